#include "health/monitor.h"

#include <gtest/gtest.h>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <memory>
#include <string>

namespace fulcrum::health {
namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

// A loopback HTTP server whose answer the test changes; port fixed after the first open so a
// "restart" comes back on the same address.
class TinyHttp {
 public:
  explicit TinyHttp(asio::io_context& io) : io_(io), acc_(io) {}
  void open(unsigned short port = 0) {
    acc_.open(tcp::v4());
    acc_.set_option(tcp::acceptor::reuse_address(true));
    acc_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    acc_.listen();
    accept();
  }
  void close() { acc_.close(); }
  tcp::endpoint endpoint() const { return acc_.local_endpoint(); }
  std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

 private:
  void accept() {
    acc_.async_accept([this](const std::error_code& ec, tcp::socket s) {
      if (ec) return;
      auto sock = std::make_shared<tcp::socket>(std::move(s));
      auto buf = std::make_shared<std::array<char, 1024>>();
      sock->async_read_some(asio::buffer(*buf),
                            [this, sock, buf](const std::error_code& e, std::size_t) {
                              if (e) return;
                              auto out = std::make_shared<std::string>(answer);
                              asio::async_write(*sock, asio::buffer(*out), [sock, out](auto, auto) {
                                std::error_code ignored;
                                sock->shutdown(tcp::socket::shutdown_both, ignored);
                              });
                            });
      accept();
    });
  }
  asio::io_context& io_;
  tcp::acceptor acc_;
};

config::HealthCheckConfig fast_check(config::HealthCheckConfig::Type type) {
  config::HealthCheckConfig hc;
  hc.type = type;
  hc.interval = 40ms;
  hc.timeout = 30ms;
  hc.rise = 2;
  hc.fall = 2;
  return hc;
}

TEST(Monitor, TcpCheckTakesAServerDownAndBackUp) {
  asio::io_context io;
  TinyHttp up(io);
  up.open();
  const auto ep = up.endpoint();
  balance::Server s;
  s.name = "s1";
  s.endpoint = ep;
  Monitor m(io, {{"b", {&s}, fast_check(config::HealthCheckConfig::Type::kTcp), {}}}, {});
  m.start();
  io.run_for(200ms);
  EXPECT_TRUE(s.up);
  up.close();
  io.run_for(400ms);
  EXPECT_FALSE(s.up) << m.state()[s.id].last_result;
  EXPECT_NE(m.state()[s.id].last_result.find("connect"), std::string::npos);
  up.open(ep.port());
  io.run_for(400ms);
  EXPECT_TRUE(s.up);
  EXPECT_GE(m.state()[s.id].transitions, 2u);
  m.stop();
}

TEST(Monitor, HttpCheckJudgesStatusAndBody) {
  asio::io_context io;
  TinyHttp web(io);
  web.open();
  balance::Server s;
  s.name = "s1";
  s.endpoint = web.endpoint();
  auto hc = fast_check(config::HealthCheckConfig::Type::kHttp);
  hc.path = "/healthz";
  hc.expect_body = "ok";
  Monitor m(io, {{"b", {&s}, hc, {}}}, {});
  m.start();
  io.run_for(250ms);
  EXPECT_TRUE(s.up) << m.state()[s.id].last_result;
  web.answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nok";
  io.run_for(400ms);
  EXPECT_FALSE(s.up);
  EXPECT_EQ(m.state()[s.id].last_result, "status 503");
  web.answer = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nsick";
  io.run_for(300ms);
  EXPECT_FALSE(s.up) << "a body without 'ok' must not bring it back";
  web.answer = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nall ok";
  io.run_for(400ms);
  EXPECT_TRUE(s.up) << m.state()[s.id].last_result;
  m.stop();
}

TEST(Monitor, OutliersAreEjectedWithinThePercentCapAndReturn) {
  asio::io_context io;
  balance::Server a, b;
  a.name = "a";
  a.id = 0;
  b.name = "b";
  b.id = 1;
  config::OutlierConfig oc;
  oc.enabled = true;
  oc.consecutive_failures = 3;
  oc.base_ejection = 300ms;
  oc.max_ejection = 1s;
  oc.max_ejection_percent = 50;
  Monitor m(io, {{"b", {&a, &b}, {}, oc}}, {});
  m.start();
  for (int i = 0; i < 3; ++i) {
    balance::record_failure(a);
    balance::record_failure(b);
  }
  io.run_for(400ms);
  // Half of two servers: only one may be out at a time.
  EXPECT_NE(a.up.load(), b.up.load());
  const bool a_out = !a.up;
  io.run_for(1000ms);
  EXPECT_TRUE(a_out ? a.up.load() : b.up.load()) << "the ejection time has passed";
  EXPECT_EQ(m.state()[a_out ? 0 : 1].ejections, 1u);
  m.stop();
}

TEST(Monitor, StateCarriesIntoTheNextMonitor) {
  asio::io_context io;
  balance::Server s;
  s.name = "s";
  s.id = 7;
  std::map<std::uint32_t, ServerHealth> previous;
  previous[7].active_up = false;
  previous[7].failures = 3;
  // Same check still configured: the server stays down until checks say otherwise.
  Monitor m(io, {{"b", {&s}, fast_check(config::HealthCheckConfig::Type::kTcp), {}}}, previous);
  EXPECT_FALSE(s.up);
  // No active check any more: the old verdict no longer applies.
  balance::Server s2;
  s2.id = 7;
  Monitor m2(io, {{"b", {&s2}, {}, {}}}, previous);
  EXPECT_TRUE(s2.up);
}

}  // namespace
}  // namespace fulcrum::health
