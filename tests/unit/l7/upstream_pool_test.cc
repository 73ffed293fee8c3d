// The idle watch of pooled upstream connections over TLS, against a real OpenSSL server on
// loopback: a record without data long after the handshake (a TLS 1.3 session ticket) keeps the
// connection pooled and stores the session; data nobody asked for, or the server's
// close_notify, drop it; a reload's new client context does not take the old connection.
#include "l7/upstream_pool.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tls/client_context.h"

namespace fulcrum::l7 {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint32_t kServer = 3;

class PoolTls : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/unit-pool-XXXXXX";
    dir_ = mkdtemp(tmpl);
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout " +
        dir_ + "/s.key -out " + dir_ + "/s.pem -subj /CN=up.test >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    server_ctx_ = SSL_CTX_new(TLS_server_method());
    ASSERT_EQ(
        SSL_CTX_use_certificate_file(server_ctx_, (dir_ + "/s.pem").c_str(), SSL_FILETYPE_PEM), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey_file(server_ctx_, (dir_ + "/s.key").c_str(), SSL_FILETYPE_PEM),
              1);
    SSL_CTX_set_min_proto_version(server_ctx_, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(server_ctx_, 0);  // tickets only when a test sends one
    config::UpstreamTlsConfig cfg;
    cfg.enabled = true;
    cfg.verify = false;
    std::vector<config::ConfigError> errors;
    client_ctx_ = tls::ClientContext::build(cfg, "backends[0].tls", {"http/1.1"}, errors);
    ASSERT_TRUE(client_ctx_) << (errors.empty() ? "" : errors[0].to_string());
  }
  void TearDown() override {
    pool_.close_all();
    if (server_ != nullptr) SSL_free(server_);
    SSL_CTX_free(server_ctx_);
    fs::remove_all(dir_);
  }

  // A TLS connection to a loopback server, handshake done, put into the pool.
  void pooled_connection() {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    conn_ = std::make_shared<UpstreamConn>(io_);
    conn_->server_id = kServer;
    conn_->sock.connect(acceptor.local_endpoint());
    peer_ = std::make_unique<asio::ip::tcp::socket>(acceptor.accept());
    server_ = SSL_new(server_ctx_);
    SSL_set_fd(server_, peer_->native_handle());
    bool accepted = false;
    std::thread t([&] { accepted = SSL_accept(server_) == 1; });
    conn_->sock.non_blocking(true);
    conn_->tls = std::make_unique<tls::TlsConn>(client_ctx_, conn_->sock.native_handle(), "up.test",
                                                &pool_.sessions, kServer);
    conn_->tls_id = client_ctx_->id();
    for (int i = 0; i < 100; ++i) {
      const auto r = conn_->tls->handshake();
      if (r == tls::TlsConn::Result::kOk) break;
      ASSERT_TRUE(r == tls::TlsConn::Result::kWantRead || r == tls::TlsConn::Result::kWantWrite)
          << conn_->tls->error();
      pollfd p{conn_->sock.native_handle(),
               static_cast<short>(r == tls::TlsConn::Result::kWantRead ? POLLIN : POLLOUT), 0};
      ::poll(&p, 1, 1000);
    }
    t.join();
    ASSERT_TRUE(accepted);
    pool_.put(conn_, 8, std::chrono::seconds(60));
    ASSERT_EQ(pool_.idle_count(), 1u);
  }

  void run(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }

  std::string dir_;
  SSL_CTX* server_ctx_ = nullptr;
  std::shared_ptr<const tls::ClientContext> client_ctx_;
  asio::io_context io_;
  UpstreamPool pool_{io_};
  std::shared_ptr<UpstreamConn> conn_;
  std::unique_ptr<asio::ip::tcp::socket> peer_;
  SSL* server_ = nullptr;
};

TEST_F(PoolTls, LateSessionTicketKeepsTheConnectionAndDataDropsIt) {
  pooled_connection();
  EXPECT_EQ(pool_.sessions.get(kServer, client_ctx_->id()), nullptr);
  // A ticket long after the handshake: readable, but nothing for us.
  ASSERT_EQ(SSL_new_session_ticket(server_), 1);
  ASSERT_EQ(SSL_do_handshake(server_), 1);  // sends it
  run(300ms);
  EXPECT_EQ(pool_.idle_count(), 1u);
  EXPECT_NE(pool_.sessions.get(kServer, client_ctx_->id()), nullptr);
  // The same server again, resuming with the pooled context: taken back.
  auto again = pool_.take(kServer, client_ctx_->id());
  ASSERT_EQ(again, conn_);
  pool_.put(again, 8, std::chrono::seconds(60));
  // Bytes nobody asked for: dropped.
  ASSERT_EQ(SSL_write(server_, "x", 1), 1);
  run(300ms);
  EXPECT_EQ(pool_.idle_count(), 0u);
  EXPECT_FALSE(conn_->sock.is_open());
}

TEST_F(PoolTls, CloseNotifyDropsTheConnection) {
  pooled_connection();
  SSL_shutdown(server_);
  run(300ms);
  EXPECT_EQ(pool_.idle_count(), 0u);
}

TEST_F(PoolTls, AnotherClientContextDoesNotTakeIt) {
  pooled_connection();
  // After a reload changed the backend's TLS (another context id), or turned it off (0).
  EXPECT_EQ(pool_.take(kServer, client_ctx_->id() + 1000), nullptr);
  EXPECT_EQ(pool_.idle_count(), 0u);
  EXPECT_FALSE(conn_->sock.is_open());
}

}  // namespace
}  // namespace fulcrum::l7
