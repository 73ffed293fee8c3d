#include "health/monitor.h"

#include <fmt/format.h>

#include <algorithm>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <functional>
#include <optional>

#include "core/log.h"
#include "l7/http1/parser.h"
#include "tls/tls_conn.h"

namespace fulcrum::health {

using asio::ip::tcp;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

struct Monitor::Group {
  std::string name;
  config::HealthCheckConfig check;
  config::OutlierConfig outlier;
  std::shared_ptr<const tls::ClientContext> tls;  // http checks over TLS; null: plain
  std::vector<std::unique_ptr<Target>> targets;
  std::uint32_t ejected = 0;
};

struct Probe;

struct Monitor::Target {
  Group* group = nullptr;
  std::weak_ptr<Probe> probe;  // the check in flight, if any
  balance::Server* server = nullptr;
  ServerHealth st;
  std::unique_ptr<asio::steady_timer> timer;
  std::string request;   // the HTTP check request, built once
  std::string tls_host;  // with tls: the server's configured host (SNI, verified name)
};

// One check in flight: a socket, its deadline and what was read. Owned by its handlers.
struct Probe : std::enable_shared_from_this<Probe> {
  Probe(asio::io_context& io) : sock(io), deadline(io) {}
  tcp::socket sock;
  asio::steady_timer deadline;
  std::unique_ptr<tls::TlsConn> tls;  // http checks of backends with tls
  std::size_t sent = 0;               // of the request, over TLS
  std::string in;
  bool done = false;
  Clock::time_point start = Clock::now();
  std::function<void(bool, std::string)> finish;

  void complete(bool ok, std::string why) {
    if (done) return;
    abort();
    finish(ok, std::move(why));
  }
  // Ends the probe without a result (the monitor is stopping): its handlers, which still hold
  // references into the monitor, see `done` and touch nothing.
  void abort() {
    done = true;
    std::error_code ec;
    deadline.cancel();
    sock.close(ec);
  }
};

namespace {

constexpr std::size_t kMaxCheckResponse = 64 * 1024;
constexpr auto kOutlierPoll = milliseconds(250);

bool status_expected(const config::HealthCheckConfig& hc, int status) {
  return std::any_of(hc.expect_status.begin(), hc.expect_status.end(),
                     [&](const auto& r) { return status >= r.first && status <= r.second; });
}

// Judges what an HTTP check read so far: nullopt while more bytes are needed.
std::optional<std::pair<bool, std::string>> judge_http(const config::HealthCheckConfig& hc,
                                                       const std::string& in, bool eof) {
  l7::http1::ResponseHead head;
  const auto r =
      l7::http1::parse_response_head(in, head, l7::http1::Limits{}, l7::http1::Method::kGet);
  if (r.status == l7::http1::ParseStatus::kError) {
    return std::make_pair(false, fmt::format("bad response: {}", r.reason));
  }
  if (r.status == l7::http1::ParseStatus::kIncomplete) {
    if (eof) return std::make_pair(false, std::string("closed before a complete response"));
    return std::nullopt;
  }
  if (!status_expected(hc, head.status)) {
    return std::make_pair(false, fmt::format("status {}", head.status));
  }
  if (hc.expect_body.empty()) return std::make_pair(true, fmt::format("status {}", head.status));
  const std::string_view body = std::string_view(in).substr(head.head_size);
  const bool complete =
      eof || in.size() >= kMaxCheckResponse ||
      (head.body == l7::http1::BodyKind::kContentLength && body.size() >= head.content_length);
  if (body.find(hc.expect_body) != std::string_view::npos) {
    return std::make_pair(true, fmt::format("status {}, body matched", head.status));
  }
  if (!complete) return std::nullopt;
  return std::make_pair(false,
                        fmt::format("status {}, body lacks \"{}\"", head.status, hc.expect_body));
}

void read_more(const std::shared_ptr<Probe>& p, const config::HealthCheckConfig& hc) {
  const std::size_t old = p->in.size();
  p->in.resize(old + 4096);
  p->sock.async_read_some(asio::buffer(p->in.data() + old, 4096),
                          [p, &hc, old](const std::error_code& ec, std::size_t n) {
                            if (p->done) return;
                            p->in.resize(old + n);
                            const bool eof = static_cast<bool>(ec);
                            if (auto verdict = judge_http(hc, p->in, eof)) {
                              return p->complete(verdict->first, verdict->second);
                            }
                            if (eof) return p->complete(false, ec.message());
                            read_more(p, hc);
                          });
}

// Over TLS the socket is non-blocking and OpenSSL says which way to wait: each step runs until
// it would block, then waits for the socket and runs again.
void tls_read(const std::shared_ptr<Probe>& p, const config::HealthCheckConfig& hc);
void tls_write(const std::shared_ptr<Probe>& p, const std::string& req,
               const config::HealthCheckConfig& hc);

template <class F>
void tls_wait(const std::shared_ptr<Probe>& p, tls::TlsConn::Result r, F next) {
  const auto way =
      r == tls::TlsConn::Result::kWantWrite ? tcp::socket::wait_write : tcp::socket::wait_read;
  p->sock.async_wait(way, [p, next](const std::error_code& ec) {
    if (p->done) return;
    if (ec) return p->complete(false, ec.message());
    next();
  });
}

bool would_block(tls::TlsConn::Result r) {
  return r == tls::TlsConn::Result::kWantRead || r == tls::TlsConn::Result::kWantWrite;
}

void tls_handshake(const std::shared_ptr<Probe>& p, const std::string& req,
                   const config::HealthCheckConfig& hc) {
  const auto r = p->tls->handshake();
  if (r == tls::TlsConn::Result::kOk) return tls_write(p, req, hc);
  if (would_block(r)) return tls_wait(p, r, [p, &req, &hc] { tls_handshake(p, req, hc); });
  p->complete(false, "TLS handshake: " + tls::handshake_failure(*p->tls));
}

void tls_write(const std::shared_ptr<Probe>& p, const std::string& req,
               const config::HealthCheckConfig& hc) {
  while (p->sent < req.size()) {
    iovec iov{const_cast<char*>(req.data()) + p->sent, req.size() - p->sent};
    std::size_t n = 0;
    const auto r = p->tls->writev(&iov, 1, n);
    if (r == tls::TlsConn::Result::kOk) {
      p->sent += n;
      continue;
    }
    if (would_block(r)) return tls_wait(p, r, [p, &req, &hc] { tls_write(p, req, hc); });
    return p->complete(false, "TLS write: " + p->tls->error());
  }
  tls_read(p, hc);
}

void tls_read(const std::shared_ptr<Probe>& p, const config::HealthCheckConfig& hc) {
  for (;;) {
    const std::size_t old = p->in.size();
    p->in.resize(old + 4096);
    std::size_t n = 0;
    const auto r = p->tls->read(p->in.data() + old, 4096, n);
    p->in.resize(old + n);
    if (would_block(r)) return tls_wait(p, r, [p, &hc] { tls_read(p, hc); });
    const bool eof = r != tls::TlsConn::Result::kOk;
    if (auto verdict = judge_http(hc, p->in, eof)) {
      return p->complete(verdict->first, verdict->second);
    }
    if (eof) {
      return p->complete(false, r == tls::TlsConn::Result::kEof ? "connection closed"
                                                                : "TLS read: " + p->tls->error());
    }
  }
}

}  // namespace

Monitor::Monitor(asio::io_context& io, std::vector<BackendToCheck> backends,
                 const std::map<std::uint32_t, ServerHealth>& previous)
    : io_(io), outlier_timer_(io) {
  for (auto& b : backends) {
    auto g = std::make_unique<Group>();
    g->name = b.name;
    g->check = b.check;
    g->outlier = b.outlier;
    g->tls = b.tls;
    for (std::size_t i = 0; i < b.servers.size(); ++i) {
      balance::Server* s = b.servers[i];
      auto t = std::make_unique<Target>();
      t->group = g.get();
      t->server = s;
      if (g->tls && i < b.tls_hosts.size()) t->tls_host = b.tls_hosts[i];
      if (auto it = previous.find(s->id); it != previous.end()) t->st = it->second;
      // Checks and ejections that no longer apply under the new config are dropped.
      if (g->check.type == config::HealthCheckConfig::Type::kNone) t->st.active_up = true;
      if (!g->outlier.enabled) t->st.ejected = false;
      if (t->st.ejected) ++g->ejected;
      t->timer = std::make_unique<asio::steady_timer>(io);
      if (g->check.type == config::HealthCheckConfig::Type::kHttp) {
        const std::string host =
            g->check.host.empty()
                ? fmt::format("{}:{}", s->endpoint.address().to_string(), s->endpoint.port())
                : g->check.host;
        t->request = fmt::format(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: fulcrum-health-check\r\n"
            "Connection: close\r\n\r\n",
            g->check.method, g->check.path, host);
      }
      apply(*t);
      g->targets.push_back(std::move(t));
    }
    groups_.push_back(std::move(g));
  }
}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  for (auto& g : groups_) {
    if (g->check.type == config::HealthCheckConfig::Type::kNone) continue;
    for (auto& t : g->targets) schedule(*t, /*first=*/true);
  }
  poll_outliers();
}

void Monitor::stop() {
  *alive_ = false;
  std::error_code ec;
  outlier_timer_.cancel();
  for (auto& g : groups_) {
    for (auto& t : g->targets) {
      t->timer->cancel();
      if (auto p = t->probe.lock()) p->abort();
    }
  }
}

std::map<std::uint32_t, ServerHealth> Monitor::state() const {
  std::map<std::uint32_t, ServerHealth> out;
  for (const auto& g : groups_) {
    for (const auto& t : g->targets) out[t->server->id] = t->st;
  }
  return out;
}

// The next check comes after the interval ±10%, so checks of many servers spread out instead of
// arriving together; the first one comes at a random point of the first interval.
void Monitor::schedule(Target& t, bool first) {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const auto interval = t.group->check.interval.count();
  const double unit = static_cast<double>(rng_ >> 11) / static_cast<double>(1ull << 53);
  const auto delay =
      first ? static_cast<std::int64_t>(unit * static_cast<double>(interval))
            : static_cast<std::int64_t>(static_cast<double>(interval) * (0.9 + 0.2 * unit));
  t.timer->expires_after(milliseconds(delay));
  t.timer->async_wait([this, &t, alive = alive_](const std::error_code& ec) {
    if (ec || !*alive) return;
    run_check(t);
  });
}

void Monitor::run_check(Target& t) {
  const config::HealthCheckConfig& hc = t.group->check;
  auto p = std::make_shared<Probe>(io_);
  t.probe = p;
  p->finish = [this, &t, p_weak = std::weak_ptr<Probe>(p), alive = alive_](bool ok,
                                                                           std::string why) {
    if (!*alive) return;
    auto probe = p_weak.lock();
    const auto took =
        probe ? duration_cast<microseconds>(Clock::now() - probe->start) : microseconds(0);
    on_result(t, ok, std::move(why), took);
    schedule(t, /*first=*/false);
  };
  std::error_code ec;
  p->sock.open(t.server->endpoint.protocol(), ec);
  if (!ec && !hc.source.empty()) {
    p->sock.bind(tcp::endpoint(asio::ip::make_address(hc.source, ec), 0), ec);
  }
  if (ec) return p->complete(false, fmt::format("socket: {}", ec.message()));
  p->deadline.expires_after(hc.timeout);
  p->deadline.async_wait([p](const std::error_code& e) {
    if (!e) p->complete(false, "timeout");
  });
  p->sock.async_connect(t.server->endpoint, [p, &t, &hc](const std::error_code& e) {
    if (p->done) return;
    if (e) return p->complete(false, fmt::format("connect: {}", e.message()));
    if (hc.type == config::HealthCheckConfig::Type::kTcp) return p->complete(true, "connected");
    if (t.group->tls) {
      std::error_code ignored;
      p->sock.non_blocking(true, ignored);
      // No session cache: the control thread has no worker's, and a check every few seconds
      // costs little in full handshakes.
      p->tls = std::make_unique<tls::TlsConn>(t.group->tls, p->sock.native_handle(), t.tls_host,
                                              nullptr, t.server->id);
      return tls_handshake(p, t.request, hc);
    }
    asio::async_write(p->sock, asio::buffer(t.request),
                      [p, &hc](const std::error_code& we, std::size_t) {
                        if (p->done) return;
                        if (we) return p->complete(false, fmt::format("write: {}", we.message()));
                        read_more(p, hc);
                      });
  });
}

void Monitor::on_result(Target& t, bool ok, std::string result, microseconds took) {
  ServerHealth& st = t.st;
  const config::HealthCheckConfig& hc = t.group->check;
  ++st.checks;
  st.last_duration = took;
  st.last_result = result;
  if (ok) {
    st.failures = 0;
    ++st.successes;
    if (!st.active_up && st.successes >= hc.rise) {
      st.active_up = true;
      ++st.transitions;
      LOG_WARN("server {}/{} is UP: {} check passed {} time(s) ({})", t.group->name, t.server->name,
               hc.type == config::HealthCheckConfig::Type::kTcp ? "tcp" : "http", st.successes,
               result);
    }
    // A passing active check ends an ejection early.
    if (st.ejected) {
      st.ejected = false;
      --t.group->ejected;
      ++st.transitions;
      LOG_WARN("server {}/{} returns from ejection: active check passed", t.group->name,
               t.server->name);
    }
  } else {
    st.successes = 0;
    ++st.failures;
    if (st.active_up && st.failures >= hc.fall) {
      st.active_up = false;
      ++st.transitions;
      LOG_WARN("server {}/{} is DOWN: {} check failed {} time(s) ({})", t.group->name,
               t.server->name, hc.type == config::HealthCheckConfig::Type::kTcp ? "tcp" : "http",
               st.failures, result);
    }
  }
  apply(t);
}

void Monitor::begin_ramp(std::uint32_t server_id) {
  for (auto& g : groups_) {
    for (auto& t : g->targets) {
      if (t->server->id != server_id) continue;
      t->st.ramp_since = Clock::now();
      if (t->server->slow_start.count() > 0) {
        LOG_INFO("server {}/{} ramps up to its full share over {}ms (slow start)", g->name,
                 t->server->name,
                 std::chrono::duration_cast<milliseconds>(t->server->slow_start).count());
      }
      apply(*t);
    }
  }
}

void Monitor::apply(Target& t) {
  ServerHealth& st = t.st;
  const bool up = st.active_up && !st.ejected;
  balance::Server& s = *t.server;
  if (up && !st.applied_up) {
    st.ramp_since = Clock::now();
    if (s.slow_start.count() > 0) {
      LOG_INFO("server {}/{} ramps up to its full share over {}ms (slow start)", t.group->name,
               s.name, std::chrono::duration_cast<milliseconds>(s.slow_start).count());
    }
  }
  st.applied_up = up;
  // The ramp is published only while it runs, so workers pay for it only then; a reload
  // carries it (ServerHealth travels by Server::id) into the new snapshot's servers.
  const bool ramping = s.slow_start.count() > 0 && st.ramp_since != Clock::time_point{} &&
                       Clock::now() - st.ramp_since < s.slow_start;
  s.ramp_since_ns.store(ramping ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      st.ramp_since.time_since_epoch())
                                      .count()
                                : 0,
                        std::memory_order_relaxed);
  s.up.store(up, std::memory_order_relaxed);
}

void Monitor::poll_outliers() {
  const auto now = Clock::now();
  for (auto& g : groups_) {
    const config::OutlierConfig& oc = g->outlier;
    if (!oc.enabled) continue;
    const std::uint32_t allowed =
        static_cast<std::uint32_t>(g->targets.size() * oc.max_ejection_percent / 100);
    for (auto& t : g->targets) {
      ServerHealth& st = t->st;
      balance::Server& s = *t->server;
      if (st.ejected) {
        if (now >= st.ejected_until) {
          st.ejected = false;
          --g->ejected;
          ++st.transitions;
          LOG_WARN("server {}/{} returns after its ejection time", g->name, s.name);
          apply(*t);
        }
        continue;
      }
      const std::uint32_t failures = s.consecutive_failures.load(std::memory_order_relaxed);
      const std::uint32_t errors = s.consecutive_5xx.load(std::memory_order_relaxed);
      const bool fail = oc.consecutive_failures != 0 && failures >= oc.consecutive_failures;
      const bool bad = oc.consecutive_5xx != 0 && errors >= oc.consecutive_5xx;
      if (!fail && !bad) continue;
      if (g->ejected >= allowed) continue;  // keep max_ejection_percent of the pool serving
      ++st.ejections;
      const auto base = oc.base_ejection.count();
      const auto scaled = base << std::min<std::uint32_t>(st.ejections - 1, 20);
      const auto length = milliseconds(std::min<std::int64_t>(scaled, oc.max_ejection.count()));
      st.ejected = true;
      st.ejected_until = now + length;
      ++g->ejected;
      ++st.transitions;
      s.consecutive_failures.store(0, std::memory_order_relaxed);
      s.consecutive_5xx.store(0, std::memory_order_relaxed);
      LOG_WARN("server {}/{} ejected for {}ms (ejection {}): {}", g->name, s.name, length.count(),
               st.ejections,
               fail ? fmt::format("{} consecutive connect failures/timeouts", failures)
                    : fmt::format("{} consecutive 5xx responses", errors));
      apply(*t);
    }
  }
  outlier_timer_.expires_after(kOutlierPoll);
  outlier_timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
    if (ec || !*alive) return;
    poll_outliers();
  });
}

}  // namespace fulcrum::health
