// Session tickets across key rotations: a ticket made before one rotation still resumes (the
// previous key decrypts), one made before two rotations does not. Real handshakes over a
// socketpair between the listener's context and an OpenSSL client.
#include "tls/ticket_keys.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tls/server_context.h"

namespace fulcrum::tls {
namespace {

class Tickets : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/unit-tickets-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_EQ(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                           "-nodes -days 2 -subj /CN=a.test -keyout " +
                           dir_ + "/k.pem -out " + dir_ + "/c.pem >/dev/null 2>&1")
                              .c_str()),
              0);
    config::TlsConfig cfg;
    cfg.enabled = true;
    cfg.certificates.push_back({dir_ + "/c.pem", dir_ + "/k.pem", "", {}, {}});
    cfg.session_cache = 0;  // resumption only by ticket
    std::vector<config::ConfigError> errors;
    ctx_ = ServerContext::build(cfg, "tickets-test", "listeners[0].tls", false, errors);
    ASSERT_TRUE(ctx_) << (errors.empty() ? "" : errors[0].to_string());
    client_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_session_cache_mode(client_, SSL_SESS_CACHE_CLIENT);
  }
  void TearDown() override {
    SSL_CTX_free(client_);
    std::filesystem::remove_all(dir_);
  }

  // One connection: handshake (resuming `session` if given), one byte each way so the
  // client reads the TLS 1.3 ticket. Returns the client's session; `resumed` as the server saw.
  SSL_SESSION* connect(SSL_SESSION* session, bool& resumed) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    SSL* s = ctx_->new_ssl();
    SSL_set_fd(s, sv[0]);
    SSL_set_accept_state(s);
    SSL* c = SSL_new(client_);
    SSL_set_fd(c, sv[1]);
    SSL_set_connect_state(c);
    SSL_set_tlsext_host_name(c, "a.test");
    if (session) SSL_set_session(c, session);
    bool done = false;
    for (int i = 0; i < 50 && !done; ++i) {
      const int a = SSL_do_handshake(c);
      const int b = SSL_do_handshake(s);
      done = a == 1 && b == 1;
    }
    EXPECT_TRUE(done) << ERR_reason_error_string(ERR_peek_last_error());
    char byte = 'x';
    std::size_t n = 0;
    EXPECT_EQ(SSL_write_ex(s, &byte, 1, &n), 1);
    EXPECT_EQ(SSL_read_ex(c, &byte, 1, &n), 1);  // processes the NewSessionTicket first
    resumed = SSL_session_reused(s) == 1;
    SSL_SESSION* out = SSL_get1_session(c);
    // A connection freed without close_notify voids its session (OpenSSL's truncation guard).
    SSL_shutdown(c);
    SSL_shutdown(s);
    SSL_free(c);
    SSL_free(s);
    close(sv[0]);
    close(sv[1]);
    ERR_clear_error();
    return out;
  }

  std::string dir_;
  std::shared_ptr<const ServerContext> ctx_;
  SSL_CTX* client_ = nullptr;
};

TEST_F(Tickets, PreviousKeyStillResumesTheOneBeforeDoesNot) {
  // Sessions are used once each: a TLS 1.3 client does not offer a ticket twice.
  bool resumed = true;
  SSL_SESSION* a = connect(nullptr, resumed);
  EXPECT_FALSE(resumed);
  SSL_SESSION* b = connect(nullptr, resumed);
  SSL_SESSION* c = connect(nullptr, resumed);
  SSL_SESSION* again = connect(c, resumed);
  EXPECT_TRUE(resumed) << "a fresh ticket resumes";

  ctx_->ticket_keys()->rotate();
  SSL_SESSION* renewed = connect(a, resumed);
  EXPECT_TRUE(resumed) << "the previous key still opens tickets";

  ctx_->ticket_keys()->rotate();
  SSL_SESSION* stale = connect(b, resumed);
  EXPECT_FALSE(resumed) << "two rotations later the key is gone: a full handshake";
  SSL_SESSION* fresh = connect(renewed, resumed);
  EXPECT_TRUE(resumed) << "the ticket renewed after the first rotation is current";
  for (SSL_SESSION* s : {a, b, c, again, renewed, stale, fresh}) SSL_SESSION_free(s);
}

TEST_F(Tickets, TheRingOutlivesAReload) {
  // A reload builds a new context for the same listener: same ring, so tickets keep working.
  bool resumed = true;
  SSL_SESSION* first = connect(nullptr, resumed);
  config::TlsConfig cfg;
  cfg.enabled = true;
  cfg.certificates.push_back({dir_ + "/c.pem", dir_ + "/k.pem", "", {}, {}});
  std::vector<config::ConfigError> errors;
  auto reloaded = ServerContext::build(cfg, "tickets-test", "listeners[0].tls", false, errors);
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->ticket_keys(), ctx_->ticket_keys());
  ctx_ = reloaded;
  SSL_SESSION* again = connect(first, resumed);
  EXPECT_TRUE(resumed);
  SSL_SESSION_free(first);
  SSL_SESSION_free(again);
}

}  // namespace
}  // namespace fulcrum::tls
