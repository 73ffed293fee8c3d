#include "l7/http_session.h"

#include <arpa/inet.h>
#include <re2/re2.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "l7/forward.h"
#include "l7/http2/h1_h2_bridge.h"
#include "l7/http2/h2_session.h"
#include "l7/request_keys.h"

namespace fulcrum::l7 {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Writes without SIGPIPE (a peer that vanished is an error value, not a signal).
ssize_t send_iov(int fd, iovec* iov, int count) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<std::size_t>(count);
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool idempotent(http1::Method m) {
  switch (m) {
    case http1::Method::kGet:
    case http1::Method::kHead:
    case http1::Method::kOptions:
    case http1::Method::kTrace:
    case http1::Method::kPut:
    case http1::Method::kDelete:
      return true;
    default:
      return false;
  }
}

// Upper bound of loop turns one pump runs before yielding to other connections of the worker.
constexpr int kPumpBudget = 64;
constexpr auto kLingerTime = std::chrono::seconds(2);

}  // namespace

HttpSession::HttpSession(WorkerContext& wc, std::shared_ptr<const Snapshot> snap,
                         const Listener* listener, tcp::socket sock, const tcp::endpoint& peer)
    : wc_(wc),
      snap_(std::move(snap)),
      lis_(listener),
      client_(std::move(sock)),
      ls_(&listener->stats->slots[wc.worker.index()]) {
  client_addr_ = peer.address();
  ls_->connections.add();
  ls_->open.inc();
  list_next = wc_.sessions;
  if (list_next) list_next->list_prev = this;
  wc_.sessions = this;
  ++wc_.session_count;
}

HttpSession::~HttpSession() {
  ls_->open.dec();
  if (list_prev) list_prev->list_next = list_next;
  if (list_next) list_next->list_prev = list_prev;
  if (wc_.sessions == this) wc_.sessions = list_next;
  --wc_.session_count;
}

void HttpSession::start() {
  std::error_code ec;
  client_.non_blocking(true, ec);
  client_.set_option(tcp::no_delay(true), ec);
  asio::ip::address addr = client_addr_;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  client_addr_ = addr;
  trusted_ = !lis_->trusted_proxies.empty() && lis_->trusted_proxies.contains(addr);
  if (lis_->tls) {
    tls_ = std::make_unique<tls::TlsConn>(lis_->tls, client_.native_handle());
    phase_ = Phase::kHandshake;
    set_deadline(lis_->handshake_timeout);
    // With TCP_DEFER_ACCEPT the ClientHello is usually here already.
    return do_handshake();
  }
  phase_ = Phase::kIdle;
  set_deadline(lis_->header_timeout);
  // With TCP_DEFER_ACCEPT the request is usually here already: read before waiting.
  on_client_readable();
}

// ---------------------------------------------------------------------------------------------
// TLS

void HttpSession::do_handshake() {
  switch (tls_->handshake()) {
    case tls::TlsConn::Result::kOk:
      return on_handshake_done();
    case tls::TlsConn::Result::kWantRead:
      tls_read_wants_write_ = false;
      return wait_client_read();
    case tls::TlsConn::Result::kWantWrite:
      tls_write_wants_read_ = false;
      return wait_client_write();
    case tls::TlsConn::Result::kEof:
      return handshake_failed(metrics::TlsFailure::kClosed);
    case tls::TlsConn::Result::kError:
      return handshake_failed(metrics::TlsFailure::kProtocol);
  }
}

void HttpSession::on_handshake_done() {
  ls_->tls_handshakes.add();
  if (tls_->resumed()) ls_->tls_resumed.add();
  if (tls_->alpn() == "h2") {
    // The connection now belongs to the HTTP/2 engine, SSL and all.
    phase_ = Phase::kClosed;
    deadline_ = Clock::time_point::max();
    start_h2_session(wc_, snap_, lis_, std::move(client_), tcp::endpoint(client_addr_, 0),
                     std::move(tls_), {});
    return;
  }
  phase_ = Phase::kIdle;
  set_deadline(lis_->header_timeout);
  on_client_readable();
}

void HttpSession::handshake_failed(metrics::TlsFailure why) {
  ls_->tls_failures[static_cast<std::size_t>(why)].add();
  char ip[46];
  LOG_DEBUG("{}: TLS handshake with {} failed ({}): {}", lis_->name, client_ip(ip),
            metrics::tls_failure_name(why), tls_->error());
  close();
}

ssize_t HttpSession::tls_recv(char* p, std::size_t cap) {
  const ssize_t n = tls_->recv(p, cap, tls_read_wants_write_);
  if (n < 0 && errno == EPROTO) {
    LOG_DEBUG("{}: TLS read failed: {}", lis_->name, tls_->error());
    errno = EPROTO;  // the caller reads it; logging may have changed it
  }
  return n;
}

ssize_t HttpSession::tls_send(const iovec* iov, int count) {
  const ssize_t w = tls_->send(iov, count, tls_write_wants_read_);
  if (w < 0 && errno == EPROTO) {
    LOG_DEBUG("{}: TLS write failed: {}", lis_->name, tls_->error());
    errno = EPROTO;  // the caller reads it; logging may have changed it
  }
  return w;
}

// The client's address as text, formatted when a request needs it rather than kept per
// connection (an idle connection should cost as little as possible).
std::string_view HttpSession::client_ip(char (&buf)[46]) const {
  if (client_addr_.is_v6()) {
    const auto bytes = client_addr_.to_v6().to_bytes();
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  } else {
    const auto bytes = client_addr_.to_v4().to_bytes();
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  }
  return {buf, std::strlen(buf)};
}

void HttpSession::drain() {
  close_after_ = true;
  // A handshake in progress has no request to finish yet.
  if (phase_ == Phase::kIdle || phase_ == Phase::kHandshake) close();
}

// ---------------------------------------------------------------------------------------------
// Reading

HttpSession::Io HttpSession::read_into(tcp::socket& s, Buffer& b, std::size_t capacity) {
  b.reserve(wc_.worker.blocks(), capacity);
  if (b.tail_room() == 0) b.compact();
  if (b.tail_room() == 0) return Io::kFull;
  for (;;) {
    const ssize_t n = tls_ != nullptr && &s == &client_ ? tls_recv(b.tail(), b.tail_room())
                      : &s != &client_ && up_->tls
                          ? up_tls_recv(b.tail(), b.tail_room())
                          : ::recv(s.native_handle(), b.tail(), b.tail_room(), MSG_DONTWAIT);
    if (n > 0) {
      b.produce(static_cast<std::size_t>(n));
      if (&s == &client_) {
        ls_->bytes_in.add(static_cast<std::uint64_t>(n));
      } else if (ss_ != nullptr) {
        ss_->bytes_in.add(static_cast<std::uint64_t>(n));
      }
      return Io::kData;
    }
    if (n == 0) return Io::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      b.release_if_empty();
      return Io::kWouldBlock;
    }
    return Io::kError;
  }
}

ssize_t HttpSession::send_to(tcp::socket& s, iovec* iov, int count) {
  const ssize_t w = tls_ != nullptr && &s == &client_ ? tls_send(iov, count)
                    : &s != &client_ && up_->tls      ? up_tls_send(iov, count)
                                                      : send_iov(s.native_handle(), iov, count);
  if (w > 0) {
    if (&s == &client_) {
      ls_->bytes_out.add(static_cast<std::uint64_t>(w));
    } else if (ss_ != nullptr) {
      ss_->bytes_out.add(static_cast<std::uint64_t>(w));
    }
  }
  return w;
}

void HttpSession::wait_client_read() {
  if (client_read_wait_ || phase_ == Phase::kClosed) return;
  client_read_wait_ = true;
  if (tls_ != nullptr && tls_->has_buffered()) {
    // Decrypted bytes wait inside OpenSSL: the socket may never turn readable for them.
    asio::post(wc_.worker.io(), [self = shared_from_this()] {
      self->client_read_wait_ = false;
      if (self->phase_ != Phase::kClosed) self->on_client_readable();
    });
    return;
  }
  client_.async_wait(tls_read_wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->client_read_wait_ = false;
                       if (self->phase_ == Phase::kClosed || ec == asio::error::operation_aborted)
                         return;
                       self->on_client_readable();
                     });
}

void HttpSession::wait_client_write() {
  if (client_write_wait_ || phase_ == Phase::kClosed) return;
  client_write_wait_ = true;
  client_.async_wait(tls_write_wants_read_ ? tcp::socket::wait_read : tcp::socket::wait_write,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->client_write_wait_ = false;
                       if (self->phase_ == Phase::kClosed || ec == asio::error::operation_aborted)
                         return;
                       if (self->phase_ == Phase::kTunnel) {
                         self->tunnel_pump();
                       } else if (self->phase_ == Phase::kHandshake) {
                         self->do_handshake();
                       } else {
                         self->pump_response();
                       }
                     });
}

void HttpSession::on_client_readable() {
  switch (phase_) {
    case Phase::kHandshake:
      return do_handshake();
    case Phase::kIdle:
    case Phase::kHead: {
      const Io r = read_into(client_, cin_, lis_->limits.max_head);
      if (r == Io::kWouldBlock) return wait_client_read();
      if (r == Io::kEof || r == Io::kError) return close();  // gone before a whole request
      if (phase_ == Phase::kIdle) {
        phase_ = Phase::kHead;
        set_deadline(lis_->header_timeout);
      }
      return process_head();
    }
    case Phase::kExchange:
      return pump_request();
    case Phase::kTunnel:
      return tunnel_pump();
    case Phase::kLinger:
      return linger();
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// The request

void HttpSession::process_head() {
  // Each request starts on the worker's current snapshot, so a reload or an admin change
  // (weights, drain) reaches kept-alive connections too; the exchange in flight keeps its own.
  if (wc_.snapshot != snap_ && wc_.snapshot) adopt_snapshot();
  // HTTP/2 with prior knowledge (h2c): its connection preface where a request line would be.
  // Without h2c on the listener it stays what it is to HTTP/1.1: a bad request.
  if (lis_->http2.h2c && !tls_ &&
      kH2Preface.starts_with(cin_.view().substr(0, kH2Preface.size()))) {
    if (cin_.size() < kH2Preface.size()) return wait_client_read();
    phase_ = Phase::kClosed;
    deadline_ = Clock::time_point::max();
    start_h2_session(wc_, snap_, lis_, std::move(client_), tcp::endpoint(client_addr_, 0),
                     nullptr, cin_.view());
    cin_.release();
    return;
  }
  http1::RequestHead& h = wc_.req_scratch;
  method_ = http1::Method::kGet;  // until this head parses: an error for it gets a body
  const http1::ParseResult r = http1::parse_request_head(cin_.view(), h, lis_->limits);
  if (r.status == http1::ParseStatus::kIncomplete) {
    // The buffer holds max_head bytes at most, so a full buffer is a head over the limit.
    if (cin_.size() >= lis_->limits.max_head) return send_error(431, "request head too large");
    return wait_client_read();
  }
  if (r.status == http1::ParseStatus::kError) return send_error(r.error_status, r.reason);

  if (lis_->access_log) log_begin(&h);
  head_at_ = Clock::now();
  method_ = h.method_id;
  client_minor_ = h.version_minor;
  client_said_close_ = !h.keep_alive;
  close_after_ = close_after_ || !h.keep_alive || wc_.draining;
  upgrade_ = h.connection_upgrade;
  req_body_ = h.body;
  req_remaining_ = h.content_length;
  req_body_seen_ = 0;
  req_chunked_.reset();
  req_done_ = false;
  req_fwd_ = 0;
  uout_sent_ = 0;
  req_body_sent_ = false;
  attempts_ = 0;
  server_ = nullptr;
  resp_head_done_ = resp_started_ = resp_sent_ = resp_done_ = resp_keep_alive_ = up_extra_ = false;
  retry_same_ = false;
  resp_body_ = http1::BodyKind::kNone;
  resp_remaining_ = 0;
  resp_chunked_.reset();
  resp_fwd_ = 0;

  if (lis_->max_body != 0 && h.body == http1::BodyKind::kContentLength &&
      h.content_length > lis_->max_body) {
    return send_error(413, "content-length over max_body");
  }

  if (h.method_id == http1::Method::kConnect) return send_error(405, "CONNECT to a reverse proxy");
  total_deadline_ = lis_->request_timeout.count() > 0 ? Clock::now() + lis_->request_timeout
                                                      : Clock::time_point::max();
  std::string_view path, query;
  split_target(h.target, path, query);
  // RFC 9112 §3.2.2: with an absolute-form target the target's authority is the host, and
  // the next hop gets origin-form with that Host.
  std::string_view authority;
  if (!h.target.empty() && h.target.front() != '/' && h.target != "*") {
    const std::size_t start = h.target.find("://") + 3;
    authority = h.target.substr(start, h.target.find_first_of("/?", start) - start);
  }
  const std::string_view host = authority.empty() ? h.host : authority;
  route_ = nullptr;
  backend_ = lis_->backend;
  if (lis_->router) {
    route_ = lis_->router->match({h, path, query, host_without_port(host), client_addr_});
  }
  if (route_) {
    route_->stats->slots[wc_.worker.index()].requests.add();
    switch (route_->action) {
      case config::RouteConfig::Action::kRespond:
      case config::RouteConfig::Action::kRedirect:
        return respond_local(h, host, path, query);
      case config::RouteConfig::Action::kSplit:
        backend_ = route_->pick_split(wc_.random());
        break;
      case config::RouteConfig::Action::kForward:
        backend_ = route_->backend;
        break;
    }
  }
  if (backend_ == nullptr) return send_error(404, "no route");
  if (backend_->h2) {
    // An h2c upgrade offer is declined by serving HTTP/1.1 (RFC 9113 drops the mechanism); any
    // other upgrade would need RFC 8441 extended CONNECT on the server side.
    for (std::size_t i = 0; upgrade_ && i < h.header_count; ++i) {
      if (http1::iequals(h.headers[i].name, "upgrade")) {
        upgrade_ = !http1::iequals(h.headers[i].value, "h2c");
      }
    }
    if (upgrade_) {
      return send_error(502, "protocol upgrade (WebSocket) to an HTTP/2 backend is not supported");
    }
    if (!h2_) h2_ = std::make_unique<H1H2Bridge>(*this);
    h2_->prepare(h);
  }
  hash_ = backend_->hashes ? request_hash(h, path, query) : 0;
  sticky_ = backend_->sticky_cookie.empty() ? nullptr : sticky_server(h);

  std::string_view target;
  if ((route_ && route_->rewrites_path()) || !authority.empty()) {
    target = rewrite_path(path, query);
  }
  const CompiledHeaderOps* ops =
      route_ && !route_->request_ops.empty() ? &route_->request_ops : nullptr;
  uout_.reserve(wc_.worker.blocks(),
                h.head_size + kForwardOverhead + target.size() + (ops ? kForwardOverhead : 0));
  char ip[46];
  ClientInfo ci{client_ip(ip), client_addr_.is_v6(), "http", trusted_};
  if (tls_) {
    ci.proto = "https";
    if (!lis_->client_subject_header.empty()) {
      ci.subject_field = lis_->client_subject_header;
      ci.subject = tls_->peer_subject();
    }
  }
  if (!write_request_head(uout_, h, ci, upgrade_, target, ops, authority)) {
    return send_error(431, "request head too large after rewriting");
  }
  cin_.consume(h.head_size);
  if (!account_request_body()) return;
  phase_ = Phase::kConnect;
  connect_upstream();
}

void HttpSession::adopt_snapshot() {
  const Listener* now = wc_.snapshot->listener_by_key(lis_->key);
  if (now == nullptr) {
    // A reload removed the listener: this request is served on the config it arrived under,
    // and the connection closes after it.
    close_after_ = true;
    return;
  }
  snap_ = wc_.snapshot;
  lis_ = now;
  trusted_ = !lis_->trusted_proxies.empty() && lis_->trusted_proxies.contains(client_addr_);
}

bool HttpSession::account_request_body() {
  if (req_done_) return true;
  const std::size_t avail = cin_.size() - req_fwd_;
  switch (req_body_) {
    case http1::BodyKind::kNone:
    case http1::BodyKind::kUntilClose:  // never set for requests
      req_done_ = true;
      break;
    case http1::BodyKind::kContentLength: {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(avail, req_remaining_));
      req_fwd_ += take;
      req_remaining_ -= take;
      req_body_seen_ += take;
      req_done_ = req_remaining_ == 0;
      break;
    }
    case http1::BodyKind::kChunked: {
      if (avail == 0) break;
      if (backend_->h2) {  // HTTP/2 DATA carries the payload only
        if (!h2_->dechunk_request()) return false;
        break;
      }
      const auto step = req_chunked_.feed({cin_.data() + req_fwd_, avail});
      if (step.status == http1::ParseStatus::kError) {
        send_error(400, step.reason);
        return false;
      }
      req_fwd_ += step.consumed;
      req_body_seen_ += step.data_bytes;
      req_done_ = step.status == http1::ParseStatus::kComplete;
      break;
    }
  }
  if (lis_->max_body != 0 && req_body_seen_ > lis_->max_body) {
    send_error(413, "request body over max_body");
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The upstream connection

void HttpSession::connect_upstream() {
  ++attempts_;
  const balance::Server* s = acquire_server();
  if (s == nullptr) {
    if (backend_full()) return enqueue();
    if (attempts_ > 1) return send_error(retry_status_, retry_reason_);
    return send_error(503, "no server available");
  }
  connect_to(s);
}

// Picks a server for this attempt and takes one of its slots (Server::active, bounded by
// max_connections); null when no usable server has room.
const balance::Server* HttpSession::acquire_server() {
  const Backend& backend = *backend_;
  // A sticky server decides the first attempt while it is usable and has room; retries balance.
  if (attempts_ == 1 && sticky_ && balance::usable(*sticky_) && balance::try_acquire(*sticky_)) {
    return sticky_;
  }
  balance::PickContext ctx{attempts_ - 1u, server_, {}, hash_};
  const balance::Server* s = backend.balancer->pick(ctx);
  if (s != nullptr && !balance::try_acquire(*s)) {
    // Another worker took its last slot between the pick and now: once more, passing it over.
    ctx.avoid_also = s;
    s = backend.balancer->pick(ctx);
    if (s != nullptr && !balance::try_acquire(*s)) s = nullptr;
  }
  // No other server for a retry: a connection that went stale in the pool is retried on the
  // same server with a fresh connection (a server that refused or timed out ends the request).
  if (s == nullptr && attempts_ > 1 && retry_same_ && balance::try_acquire(*server_)) {
    s = server_;
  }
  return s;
}

// Some server is usable but full: the request may wait for a slot instead of failing.
bool HttpSession::backend_full() const {
  for (const auto& s : backend_->servers) {
    if (balance::usable(*s) && !balance::has_room(*s)) return true;
  }
  return false;
}

void HttpSession::connect_to(const balance::Server* s) {
  const Backend& backend = *backend_;
  server_ = s;
  bs_ = &backend.stats->slots[wc_.worker.index()];
  bs_->requests.add();
  ss_ = &snap_->server_stats[s->id]->slots[wc_.worker.index()];
  // Load-aware balancers read `active`; it counts this exchange until release_upstream().
  active_on_ = s;
  if (log_) {
    log_->backend = backend.name;
    log_->server = s->name;
  }
  if (backend.h2) return h2_->start(*s);
  up_ = retry_same_ ? nullptr : wc_.pool.take(s->id, backend.tls ? backend.tls->id() : 0);
  retry_same_ = false;
  if (up_) {
    reused_ = true;
    return start_exchange();
  }
  reused_ = false;
  up_ = std::make_shared<UpstreamConn>(wc_.worker.io());
  up_->server_id = s->id;
  phase_ = Phase::kConnect;
  set_deadline(backend.connect_timeout);
  up_->sock.async_connect(s->endpoint,
                          [self = shared_from_this(), conn = up_](const std::error_code& ec) {
                            if (self->phase_ != Phase::kConnect || self->up_ != conn) return;
                            if (ec == asio::error::operation_aborted) return;
                            self->on_connected(ec);
                          });
}

// ---------------------------------------------------------------------------------------------
// The wait queue: every usable server of the backend is at its max_connections. The request
// waits, in arrival order on this worker, until a slot frees or queue.timeout passes (503, as
// HAProxy answers a queue timeout). The bound is shared by all workers through
// Backend::queued, touched only by requests that queue.

void HttpSession::enqueue() {
  const Backend& b = *backend_;
  --attempts_;  // this attempt has not happened yet: try_dequeue() makes it
  if (b.queue_size == 0) return send_error(503, "every server is at max_connections");
  if (b.queued.fetch_add(1, std::memory_order_relaxed) >= b.queue_size) {
    b.queued.fetch_sub(1, std::memory_order_relaxed);
    return send_error(503, "queue full");
  }
  phase_ = Phase::kQueued;
  b.stats->slots[wc_.worker.index()].queued.add();
  q_self_ = shared_from_this();
  set_deadline(b.queue_timeout);
  wc_.queue.push(*this);
}

bool HttpSession::try_dequeue() {
  ++attempts_;
  const balance::Server* s = acquire_server();
  if (s == nullptr) {
    --attempts_;
    return false;
  }
  leave_queue();
  connect_to(s);
  return true;
}

void HttpSession::leave_queue() {
  if (!q_self_) return;
  wc_.queue.remove(*this);
  backend_->queued.fetch_sub(1, std::memory_order_relaxed);
  // The last reference may be this one, and the caller is still inside a member function:
  // drop it from the event loop instead.
  asio::post(wc_.worker.io(), [self = std::move(q_self_)] {});
}

void HttpSession::on_connected(const std::error_code& ec) {
  if (ec) {
    balance::record_failure(*server_);
    ss_->connect_failures.add();
    LOG_INFO("{}: connect to {}/{} failed: {}", lis_->name, server_->backend, server_->name,
             ec.message());
    return retry_or_fail("upstream connect failed", 502);
  }
  std::error_code ignored;
  up_->sock.non_blocking(true, ignored);
  up_->sock.set_option(tcp::no_delay(true), ignored);
  if (backend_->tls) {
    up_->tls = std::make_unique<tls::TlsConn>(backend_->tls, up_->sock.native_handle(),
                                              backend_->tls_host(server_->id), &wc_.pool.sessions,
                                              server_->id);
    up_->tls_id = backend_->tls->id();
    set_deadline(backend_->connect_timeout);
    return up_handshake();
  }
  start_exchange();
}

void HttpSession::up_handshake() {
  tcp::socket::wait_type wait = tcp::socket::wait_read;
  switch (up_->tls->handshake()) {
    case tls::TlsConn::Result::kOk:
      return start_exchange();
    case tls::TlsConn::Result::kWantRead:
      break;
    case tls::TlsConn::Result::kWantWrite:
      wait = tcp::socket::wait_write;
      break;
    case tls::TlsConn::Result::kEof:
    case tls::TlsConn::Result::kError:
      return up_handshake_failed(tls::handshake_failure(*up_->tls));
  }
  up_->sock.async_wait(wait, [self = shared_from_this(), conn = up_](const std::error_code& ec) {
    if (self->phase_ != Phase::kConnect || self->up_ != conn) return;
    if (ec == asio::error::operation_aborted) return;
    self->up_handshake();
  });
}

// A server we cannot talk TLS to (bad chain, wrong name, refused our certificate) counts as
// one that refused the connection: the next server, a passive-health failure, a clear log.
void HttpSession::up_handshake_failed(const std::string& why) {
  balance::record_failure(*server_);
  ss_->connect_failures.add();
  // A session the server no longer accepts must not be offered again and again.
  wc_.pool.sessions.drop(server_->id);
  LOG_WARN("{}: TLS handshake with {}/{} ({}) failed: {}", lis_->name, server_->backend,
           server_->name, server_->endpoint.address().to_string(), why);
  retry_or_fail("upstream TLS handshake failed", 502);
}

ssize_t HttpSession::up_tls_recv(char* p, std::size_t cap) {
  const ssize_t n = upstream_tls_recv(*up_, p, cap);
  // A TLS error, or a fresh connection the server drops (TLS 1.3: a server that refuses our
  // certificate says so only after the handshake); a stale pooled one is retried quietly.
  if (n < 0 && errno != EAGAIN && (errno == EPROTO || !reused_)) {
    const int e = errno;  // the caller reads it; logging may change it
    LOG_WARN("{}: TLS read from {}/{} failed: {}", lis_->name, server_->backend, server_->name,
             up_->tls->error());
    errno = e;
  }
  return n;
}

ssize_t HttpSession::up_tls_send(const iovec* iov, int count) {
  const ssize_t w = upstream_tls_send(*up_, iov, count);
  // A TLS error, or a fresh connection the server drops (TLS 1.3: a server that refuses our
  // certificate says so only after the handshake); a stale pooled one is retried quietly.
  if (w < 0 && errno != EAGAIN && (errno == EPROTO || !reused_)) {
    const int e = errno;  // the caller reads it; logging may change it
    LOG_WARN("{}: TLS write to {}/{} failed: {}", lis_->name, server_->backend, server_->name,
             up_->tls->error());
    errno = e;
  }
  return w;
}

// A request may go to another attempt only while nothing of it is lost: no body byte has left
// the buffer and the client has seen nothing. Connecting never sent anything, so a failed
// connect is always retried on the next server; a reused connection that fails before any
// response byte is retried the same way (the server may have closed it as we picked it).
void HttpSession::retry_or_fail(const char* reason, int status) {
  const bool stale = reused_;
  release_upstream(false);
  const std::size_t limit = std::min<std::size_t>(3, backend_->servers.size() + 1);
  if (!req_body_sent_ && !resp_started_ && attempts_ < limit) {
    if (bs_ != nullptr) bs_->retries.add();
    uout_sent_ = 0;
    retry_same_ = stale;
    retry_status_ = status;
    retry_reason_ = reason;
    return connect_upstream();
  }
  send_error(status, reason);
}

void HttpSession::start_exchange() {
  phase_ = Phase::kExchange;
  sent_at_ = Clock::now();
  ++up_->requests;
  set_deadline(backend_->response_timeout);
  pump_request();
  if (phase_ == Phase::kExchange && !resp_head_done_) wait_up_read();
}

void HttpSession::wait_up_read() {
  if (!up_ || up_->read_wait || phase_ == Phase::kClosed) return;
  up_->read_wait = true;
  if (up_->tls && up_->tls->has_buffered()) {
    // Decrypted bytes wait inside OpenSSL: the socket may never turn readable for them.
    asio::post(wc_.worker.io(), [self = shared_from_this(), conn = up_] {
      conn->read_wait = false;
      if (self->up_ != conn) return;
      if (self->phase_ == Phase::kTunnel) return self->tunnel_pump();
      if (self->phase_ == Phase::kExchange) self->pump_response();
    });
    return;
  }
  up_->sock.async_wait(up_->tls_read_wants_write ? tcp::socket::wait_write : tcp::socket::wait_read,
                       [self = shared_from_this(), conn = up_](const std::error_code& ec) {
                         conn->read_wait = false;
                         if (self->up_ != conn || ec == asio::error::operation_aborted) return;
                         if (self->phase_ == Phase::kTunnel) return self->tunnel_pump();
                         if (self->phase_ == Phase::kExchange) self->pump_response();
                       });
}

void HttpSession::wait_up_write() {
  if (!up_ || up_->write_wait || phase_ == Phase::kClosed) return;
  up_->write_wait = true;
  up_->sock.async_wait(up_->tls_write_wants_read ? tcp::socket::wait_read : tcp::socket::wait_write,
                       [self = shared_from_this(), conn = up_](const std::error_code& ec) {
                         conn->write_wait = false;
                         if (self->up_ != conn || ec == asio::error::operation_aborted) return;
                         if (self->phase_ == Phase::kTunnel) return self->tunnel_pump();
                         if (self->phase_ == Phase::kExchange) self->pump_request();
                       });
}

void HttpSession::release_upstream(bool reusable) {
  if (active_on_) {
    balance::release(*active_on_);
    active_on_ = nullptr;
    wc_.queue.wake();
  }
  if (h2_) h2_->release();
  if (!up_) return;
  auto conn = std::move(up_);
  up_.reset();
  // Plaintext left inside OpenSSL is bytes nobody asked for, as up_extra_ is for plain TCP.
  if (reusable && !(conn->tls && conn->tls->has_buffered())) {
    wc_.pool.put(std::move(conn), backend_->max_idle, backend_->idle_timeout);
  } else {
    std::error_code ec;
    conn->sock.close(ec);
  }
}

// ---------------------------------------------------------------------------------------------
// Request: client -> upstream

void HttpSession::pump_request() {
  if (h2_ && h2_->active()) return h2_->pump();
  for (int budget = kPumpBudget; budget > 0 && phase_ == Phase::kExchange; --budget) {
    if (uout_sent_ < uout_.size() || req_fwd_ > 0) {
      iovec iov[2];
      int n = 0;
      if (uout_sent_ < uout_.size()) {
        iov[n++] = {const_cast<char*>(uout_.data()) + uout_sent_, uout_.size() - uout_sent_};
      }
      if (req_fwd_ > 0) iov[n++] = {const_cast<char*>(cin_.data()), req_fwd_};
      const ssize_t w = send_to(up_->sock, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_up_write();
        if (reused_ && !resp_head_done_ && uin_.empty()) {
          return retry_or_fail("upstream write failed", 502);
        }
        return send_error(502, "upstream write failed");
      }
      std::size_t done = static_cast<std::size_t>(w);
      const std::size_t head_part = std::min(done, uout_.size() - uout_sent_);
      uout_sent_ += head_part;
      done -= head_part;
      if (done > 0) {
        cin_.consume(done);
        req_fwd_ -= done;
        req_body_sent_ = true;
        set_deadline(backend_->response_timeout);
      }
      continue;
    }
    // Everything accounted so far is out. An early final response ends the request side.
    if (req_done_ || resp_head_done_) return;
    const Io r = read_into(client_, cin_, BlockPool::kBlockSize);
    if (r == Io::kWouldBlock) return wait_client_read();
    if (r != Io::kData) return close();  // the client gave up in the middle of its body
    if (!account_request_body()) return;
  }
  if (phase_ == Phase::kExchange) {
    asio::post(wc_.worker.io(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kExchange) self->pump_request();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Response: upstream -> client

void HttpSession::pump_response() {
  if (h2_ && h2_->active()) return h2_->pump();
  for (int budget = kPumpBudget; budget > 0; --budget) {
    if (phase_ != Phase::kExchange) return;
    if (!cout_.empty() || resp_fwd_ > 0) {
      iovec iov[2];
      int n = 0;
      if (!cout_.empty()) iov[n++] = {const_cast<char*>(cout_.data()), cout_.size()};
      if (resp_fwd_ > 0) iov[n++] = {const_cast<char*>(uin_.data()), resp_fwd_};
      const ssize_t w = send_to(client_, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_client_write();
        return close();  // the client is gone; nobody is left to answer
      }
      std::size_t done = static_cast<std::size_t>(w);
      if (done > 0) resp_sent_ = true;
      const std::size_t head_part = std::min(done, cout_.size());
      cout_.consume(head_part);
      done -= head_part;
      uin_.consume(done);
      resp_fwd_ -= done;
      if (log_) log_->bytes += done;
      continue;
    }
    cout_.release_if_empty();
    if (resp_done_) return finish_exchange();
    if (!up_) return close();

    const Io r = read_into(up_->sock, uin_, BlockPool::kBlockSize);
    if (r == Io::kWouldBlock) return wait_up_read();
    if (r == Io::kFull) return send_error(502, "upstream response head too large");
    if (r == Io::kEof && resp_head_done_ && resp_body_ == http1::BodyKind::kUntilClose) {
      resp_done_ = true;
      continue;
    }
    if (r != Io::kData) {
      // Nothing came back: a reused connection may simply have gone stale, and a request that
      // is idempotent (RFC 9110 §9.2.2) may go to another server when its server died on it.
      if (!resp_head_done_ && uin_.empty() && (reused_ || idempotent(method_))) {
        if (!reused_) balance::record_failure(*server_);
        return retry_or_fail("upstream closed before responding", 502);
      }
      if (!resp_head_done_) return send_error(502, "upstream closed before a complete response");
      return close();  // truncated body: the client must see the connection end too
    }
    set_deadline(backend_->response_timeout);
    if (!resp_head_done_) {
      if (!on_response_head()) return;
    } else if (!account_response_body()) {
      return;
    }
  }
  asio::post(wc_.worker.io(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kExchange) self->pump_response();
  });
}

// Returns false when the pump must stop (error sent, tunnel started, or more bytes needed).
bool HttpSession::on_response_head() {
  for (;;) {
    http1::ResponseHead& h = wc_.resp_scratch;
    http1::Limits limits;
    limits.max_head = BlockPool::kBlockSize;
    const auto r = http1::parse_response_head(uin_.view(), h, limits, method_);
    if (r.status == http1::ParseStatus::kIncomplete) {
      if (uin_.size() >= BlockPool::kBlockSize) {
        send_error(502, "upstream response head too large");
        return false;
      }
      wait_up_read();
      return false;
    }
    if (r.status == http1::ParseStatus::kError) {
      send_error(502, r.reason);
      return false;
    }
    cout_.reserve(wc_.worker.blocks());
    if (h.status < 200) {
      if (h.status == 101) {
        if (!upgrade_) {
          send_error(502, "upstream switched protocols unasked");
          return false;
        }
        write_response_head(cout_, h, true, client_minor_);
        uin_.consume(h.head_size);
        resp_started_ = true;
        phase_ = Phase::kTunnel;
        req_fwd_ = cin_.size();  // bytes the client sent after its request are tunnel data
        resp_fwd_ = uin_.size();
        set_deadline(lis_->idle_timeout);
        tunnel_pump();
        return false;
      }
      // 100 Continue, 103 Early Hints: HTTP/1.0 clients do not understand interim responses.
      if (client_minor_ == 1 && !write_response_head(cout_, h, true, client_minor_)) {
        send_error(502, "upstream interim response too large");
        return false;
      }
      uin_.consume(h.head_size);
      if (uin_.empty()) return true;  // flush it, then read on
      continue;
    }
    resp_head_done_ = true;
    resp_started_ = true;
    if (log_) log_->status = h.status;
    count_response(h.status);
    ss_->responses[metrics::status_class(h.status)].add();
    if (h.status >= 500) {
      balance::record_5xx(*server_);
    } else {
      balance::record_success(*server_);
    }
    const auto ttfb = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent_at_);
    balance::Server::record_latency(*server_, static_cast<std::uint64_t>(ttfb.count()));
    bs_->upstream.observe(ttfb);
    resp_body_ = h.body;
    resp_remaining_ = h.content_length;
    resp_keep_alive_ = h.keep_alive;
    // A body delimited by the server's close can only be delimited for the client the same way.
    if (resp_body_ == http1::BodyKind::kUntilClose) close_after_ = true;
    if (resp_body_ == http1::BodyKind::kChunked && client_minor_ == 0) close_after_ = true;
    // An answer before the whole request went up leaves the rest of the request body unread on
    // the client connection: it cannot carry another request.
    if (!req_done_) close_after_ = true;
    const CompiledHeaderOps* ops =
        route_ && !route_->response_ops.empty() ? &route_->response_ops : nullptr;
    if (backend_->sticky_table) learn_sticky(h);
    // Pin the client to the server that answered, unless its cookie already names it.
    const std::string_view set_cookie =
        sticky_ != server_ ? std::string_view(server_->sticky_set_cookie) : std::string_view{};
    const std::string_view hsts = tls_ ? std::string_view(lis_->hsts_field) : std::string_view{};
    if (!write_response_head(cout_, h, !close_after_, client_minor_, ops, set_cookie, hsts)) {
      resp_started_ = false;
      send_error(502, "upstream response head too large");
      return false;
    }
    uin_.consume(h.head_size);
    const bool head_sent = uout_sent_ == uout_.size();
    uout_.release();
    uout_sent_ = 0;
    // An answer before the request head was fully written leaves the upstream connection mid-
    // request: it cannot be reused.
    if (!head_sent) up_extra_ = true;
    return account_response_body();
  }
}

bool HttpSession::account_response_body() {
  const std::size_t avail = uin_.size() - resp_fwd_;
  std::size_t take = 0;
  switch (resp_body_) {
    case http1::BodyKind::kNone:
      resp_done_ = true;
      break;
    case http1::BodyKind::kUntilClose:
      take = avail;
      break;
    case http1::BodyKind::kContentLength:
      take = static_cast<std::size_t>(std::min<std::uint64_t>(avail, resp_remaining_));
      resp_remaining_ -= take;
      resp_done_ = resp_remaining_ == 0;
      break;
    case http1::BodyKind::kChunked: {
      if (avail == 0) break;
      if (client_minor_ == 0) return dechunk_response();
      const auto step = resp_chunked_.feed({uin_.data() + resp_fwd_, avail});
      if (step.status == http1::ParseStatus::kError) {
        LOG_INFO("{}: bad chunked body from {}/{}: {}", lis_->name, server_->backend, server_->name,
                 step.reason);
        send_error(502, step.reason);  // a 502 if nothing went out yet, else a cut connection
        return false;
      }
      take = step.consumed;
      resp_done_ = step.status == http1::ParseStatus::kComplete;
      break;
    }
  }
  resp_fwd_ += take;
  if (resp_done_ && resp_fwd_ < uin_.size()) up_extra_ = true;  // bytes nobody asked for
  return true;
}

// For an HTTP/1.0 client: the chunk framing in uin_ (past resp_fwd_) is decoded and dropped in
// place, so only payload bytes are forwarded; the body then ends with the connection. Framing
// bytes go through the decoder one at a time (a few per chunk); payload runs are moved whole.
bool HttpSession::dechunk_response() {
  char* base = const_cast<char*>(uin_.data());
  std::size_t in = resp_fwd_;   // next byte to decode
  std::size_t out = resp_fwd_;  // end of the payload kept so far
  const std::size_t end = uin_.size();
  while (in < end && !resp_done_) {
    std::uint64_t run = resp_chunked_.data_remaining();
    const std::size_t n =
        run > 0 ? static_cast<std::size_t>(std::min<std::uint64_t>(run, end - in)) : 1;
    const auto step = resp_chunked_.feed({base + in, n});
    if (step.status == http1::ParseStatus::kError) {
      send_error(502, step.reason);
      return false;
    }
    if (step.data_bytes > 0) {
      std::memmove(base + out, base + in, step.data_bytes);
      out += step.data_bytes;
    }
    in += step.consumed;
    resp_done_ = step.status == http1::ParseStatus::kComplete;
  }
  if (resp_done_ && in < end) up_extra_ = true;
  // Drop the decoded framing (and anything after the body) from the buffer's tail.
  uin_.truncate(out);
  resp_fwd_ = out;
  return true;
}

void HttpSession::finish_exchange() {
  if (head_at_ != Clock::time_point{}) {
    ls_->duration.observe(Clock::now() - head_at_);
    head_at_ = {};
  }
  const bool reusable = resp_keep_alive_ && req_done_ && !up_extra_ && req_fwd_ == 0 &&
                        resp_body_ != http1::BodyKind::kUntilClose;
  release_upstream(reusable);
  uin_.release();
  uout_.release();
  cout_.release_if_empty();
  server_ = nullptr;
  bs_ = nullptr;
  ss_ = nullptr;
  total_deadline_ = Clock::time_point::max();
  log_end();
  if (close_after_) return linger_close();
  phase_ = Phase::kIdle;
  set_deadline(lis_->idle_timeout);
  if (!cin_.empty()) {  // a pipelined request is already here
    phase_ = Phase::kHead;
    set_deadline(lis_->header_timeout);
    return process_head();
  }
  cin_.release_if_empty();
  wait_client_read();
}

// ---------------------------------------------------------------------------------------------
// Tunnel after 101 Switching Protocols: bytes both ways until both sides have closed.

void HttpSession::tunnel_pump() {
  struct Dir {
    tcp::socket& from;
    tcp::socket& to;
    Buffer& buf;
    std::uint32_t& fwd;
    bool& eof;
  };
  Dir dirs[2] = {{client_, up_->sock, cin_, req_fwd_, tunnel_client_eof_},
                 {up_->sock, client_, uin_, resp_fwd_, tunnel_up_eof_}};
  bool progress = false;
  // The 101 head (and any interim head before it) goes out before tunnel bytes.
  while (!cout_.empty()) {
    iovec iov{const_cast<char*>(cout_.data()), cout_.size()};
    const ssize_t w = send_to(client_, &iov, 1);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait_client_write();
    if (w < 0) return close();
    cout_.consume(static_cast<std::size_t>(w));
  }
  cout_.release_if_empty();
  for (auto& d : dirs) {
    for (int budget = kPumpBudget; budget > 0; --budget) {
      if (d.fwd > 0) {
        iovec iov{const_cast<char*>(d.buf.data()), d.fwd};
        const ssize_t w = send_to(d.to, &iov, 1);
        if (w < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (&d.to == &client_) {
              wait_client_write();
            } else {
              wait_up_write();
            }
            break;
          }
          return close();
        }
        d.buf.consume(static_cast<std::size_t>(w));
        d.fwd -= static_cast<std::size_t>(w);
        progress = true;
        continue;
      }
      if (d.eof) break;
      const Io r = read_into(d.from, d.buf, BlockPool::kBlockSize);
      if (r == Io::kWouldBlock) {
        if (&d.from == &client_) {
          wait_client_read();
        } else {
          wait_up_read();
        }
        break;
      }
      if (r == Io::kError) return close();
      if (r == Io::kEof) {
        // Half-close: pass the FIN on and keep the other direction flowing.
        d.eof = true;
        std::error_code ec;
        if (tls_ && &d.to == &client_) tls_->shutdown();
        if (&d.to != &client_ && up_->tls) up_->tls->shutdown();
        d.to.shutdown(tcp::socket::shutdown_send, ec);
        break;
      }
      d.fwd = d.buf.size();
      progress = true;
    }
  }
  if (tunnel_client_eof_ && tunnel_up_eof_ && req_fwd_ == 0 && resp_fwd_ == 0) return close();
  if (progress) set_deadline(lis_->idle_timeout);
}

// Server choice keys: shared with HTTP/2 streams (l7/request_keys.cc).
const balance::Server* HttpSession::sticky_server(const http1::RequestHead& h) {
  return l7::sticky_server(*backend_, h, sticky_key_);
}

void HttpSession::learn_sticky(const http1::ResponseHead& h) {
  l7::learn_sticky(*backend_, h, *server_, sticky_, sticky_key_);
}

std::uint64_t HttpSession::request_hash(const http1::RequestHead& h, std::string_view path,
                                        std::string_view query) const {
  return l7::request_hash(*backend_, h, path, query, client_addr_);
}

// ---------------------------------------------------------------------------------------------
// Access log: the record is filled as the exchange goes and written once when it ends.

void HttpSession::log_begin(const http1::RequestHead* h) {
  if (!log_) {
    log_ = std::make_unique<AccessRecord>();
    char ip[46];
    log_->client.assign(client_ip(ip));
    log_->listener = lis_->name;
  }
  AccessRecord& r = *log_;
  r.active = true;
  r.start_wall = std::chrono::system_clock::now();
  r.start = Clock::now();
  r.status = 0;
  r.bytes = 0;
  r.backend = {};
  r.server = {};
  r.method.clear();
  r.target.clear();
  r.protocol.clear();
  r.host.clear();
  r.referer.clear();
  r.user_agent.clear();
  if (!h) return;  // a request that could not be parsed
  r.method.assign(h->method);
  r.target.assign(h->target);
  r.protocol.assign(h->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  r.host.assign(h->host);
  for (std::size_t i = 0; i < h->header_count; ++i) {
    const auto& f = h->headers[i];
    if (http1::iequals(f.name, "referer")) r.referer.assign(f.value);
    if (http1::iequals(f.name, "user-agent")) r.user_agent.assign(f.value);
  }
}

void HttpSession::log_end() {
  if (!log_ || !log_->active) return;
  log_->active = false;
  std::string& line = wc_.log_line;
  line.clear();
  format_access_line(line, *log_, lis_->access_log_format);
  lis_->access_log->write(wc_.worker.index(), line);
}

// ---------------------------------------------------------------------------------------------
// Answers from the route itself (fixed responses, redirects)

void HttpSession::respond_local(const http1::RequestHead& h, std::string_view full_host,
                                std::string_view path, std::string_view query) {
  // The request body is not read for a local answer, so the connection cannot carry another
  // request after it.
  if (h.body != http1::BodyKind::kNone) close_after_ = true;
  const std::string_view request_uri = h.target;
  const std::string_view host = host_without_port(full_host);
  cout_.reserve(wc_.worker.blocks());
  auto put = [this](std::string_view s) {
    if (s.size() <= cout_.tail_room()) cout_.append(s);
  };
  const bool head_only = h.method_id == http1::Method::kHead;
  count_response(route_->action == config::RouteConfig::Action::kRespond ? route_->respond_status
                                                                         : route_->redirect_status);
  if (log_) {
    const bool fixed = route_->action == config::RouteConfig::Action::kRespond;
    log_->status = fixed ? route_->respond_status : route_->redirect_status;
    log_->bytes = fixed && !head_only ? route_->respond_body.size() : 0;
  }
  if (route_->action == config::RouteConfig::Action::kRespond) {
    put(route_->respond_head);
    if (tls_) put(lis_->hsts_field);
    if (close_after_) put("Connection: close\r\n");
    put("\r\n");
    if (!head_only) put(route_->respond_body);
  } else {
    char status[24];
    const int n = std::snprintf(status, sizeof status, "HTTP/1.1 %d ", route_->redirect_status);
    put({status, static_cast<std::size_t>(n)});
    put(status_text(route_->redirect_status));
    put("\r\nLocation: ");
    for (const auto& piece : route_->redirect) {
      switch (piece.kind) {
        case Route::Piece::Kind::kLiteral:
          put(piece.text);
          break;
        case Route::Piece::Kind::kScheme:
          put(tls_ ? "https" : "http");
          break;
        case Route::Piece::Kind::kHost:
          put(host);
          break;
        case Route::Piece::Kind::kPath:
          put(path);
          break;
        case Route::Piece::Kind::kQuery:
          put(query);
          break;
        case Route::Piece::Kind::kRequestUri:
          put(request_uri);
          break;
      }
    }
    put("\r\nContent-Length: 0\r\n");
    if (tls_) put(lis_->hsts_field);
    if (close_after_) put("Connection: close\r\n");
    put("\r\n");
  }
  cin_.consume(h.head_size);  // only now: the views above point into cin_
  uout_.release();
  resp_started_ = true;
  resp_done_ = true;
  req_done_ = true;
  phase_ = Phase::kExchange;
  pump_response();
}

// The rewritten target lives in the worker's scratch string (no allocation once it has grown),
// and is copied into the upstream head right away.
std::string_view HttpSession::rewrite_path(std::string_view path, std::string_view query) {
  return rewrite_target(route_, path, query, wc_.scratch);
}

// ---------------------------------------------------------------------------------------------
// Ending

void HttpSession::send_error(int status, const char* reason) {
  char ip[46];
  const std::string_view client = client_ip(ip);
  LOG_INFO("{}: {} -> {} ({})", lis_->name, client, status, reason);
  wc_.recent_errors.push(
      {std::chrono::system_clock::now(), lis_->name, std::string(client), status, reason});
  // Part of an answer is out: only closing is honest. (TLS: a write that waits holds a sealed
  // record that would go out before any other byte.)
  if (resp_sent_ || (tls_ && tls_->write_pending())) return close();
  // A replaced server response (too large a head, say) was counted already; this one is what
  // the client gets.
  if (!resp_started_) count_response(status);
  ls_->local[static_cast<std::size_t>(metrics::reason_for(status, reason))].add();
  if (lis_->access_log) {
    if (!log_ || !log_->active) log_begin(nullptr);
    log_->status = status;
  }
  release_upstream(false);
  uin_.release();
  uout_.release();
  resp_fwd_ = 0;
  cout_.release();
  cout_.reserve(wc_.worker.blocks());
  const auto body = lis_->error_bodies.find(status);
  const std::size_t head_end = cout_.size();
  write_error_response(cout_, status, false,
                       body == lis_->error_bodies.end() ? std::string_view{} : body->second,
                       method_ == http1::Method::kHead,
                       tls_ ? std::string_view(lis_->hsts_field) : std::string_view{});
  if (log_) {
    const std::string_view out = cout_.view().substr(head_end);
    log_->bytes = out.size() - (out.find("\r\n\r\n") + 4);
  }
  resp_started_ = true;
  resp_done_ = true;
  close_after_ = true;
  phase_ = Phase::kExchange;
  pump_response();
}

// Closing right after the last write would turn unread client bytes into a RST that can destroy
// the response still in flight; so shut our side, read what is left for a moment, then close.
void HttpSession::linger_close() {
  std::error_code ec;
  // A client that asked to close sends nothing after its (complete, fully read) request, so
  // there is nothing to linger for: close now and save a round of the event loop.
  if (client_said_close_ && req_done_ && cin_.empty()) {
    return close();  // which sends close_notify (TLS) and the FIN
  }
  if (tls_) tls_->shutdown();
  client_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return close();
  phase_ = Phase::kLinger;
  cin_.release();
  set_deadline(std::chrono::duration_cast<std::chrono::milliseconds>(kLingerTime));
  linger();
}

void HttpSession::linger() {
  for (int budget = kPumpBudget; budget > 0; --budget) {
    const Io r = read_into(client_, cin_, BlockPool::kBlockSize);
    if (r == Io::kWouldBlock) return wait_client_read();
    if (r != Io::kData) return close();
    cin_.consume(cin_.size());
  }
  wait_client_read();
}

void HttpSession::count_response(int status) {
  ls_->responses[metrics::status_class(status)].add();
}

void HttpSession::close() {
  if (phase_ == Phase::kClosed) return;
  leave_queue();
  log_end();
  // Best effort, never waiting: a client that is gone or slow just misses the close_notify.
  if (tls_ && phase_ != Phase::kHandshake) tls_->shutdown();
  phase_ = Phase::kClosed;
  std::error_code ec;
  deadline_ = Clock::time_point::max();
  client_.close(ec);
  release_upstream(false);
  cin_.release();
  cout_.release();
  uin_.release();
  uout_.release();
}

// ---------------------------------------------------------------------------------------------
// Timeouts

void HttpSession::set_deadline(std::chrono::milliseconds d) {
  deadline_ = std::min(Clock::now() + d, total_deadline_);
}

void HttpSession::on_timer() {
  const auto now = Clock::now();
  if (now < deadline_) return;
  if (now >= total_deadline_ &&
      (phase_ == Phase::kQueued || phase_ == Phase::kConnect || phase_ == Phase::kExchange)) {
    leave_queue();
    if (!resp_started_) return send_error(504, "request_timeout");
    return close();
  }
  switch (phase_) {
    case Phase::kQueued:
      leave_queue();
      return send_error(503, "queue timeout");
    case Phase::kHandshake:
      return handshake_failed(metrics::TlsFailure::kTimeout);
    case Phase::kIdle:
      return close();  // keep-alive wait over: a silent close, as every server does
    case Phase::kHead:
      return send_error(408, "request header timeout");
    case Phase::kConnect:
      LOG_INFO("{}: connect to {}/{} timed out", lis_->name, server_->backend, server_->name);
      balance::record_failure(*server_);
      ss_->connect_failures.add();
      return retry_or_fail("upstream connect timeout", 504);
    case Phase::kExchange:
      if (server_ && !resp_head_done_) {
        balance::record_failure(*server_);
        ss_->timeouts.add();
      }
      if (!resp_started_) return send_error(504, "upstream response timeout");
      return close();
    case Phase::kTunnel:
    case Phase::kLinger:
    case Phase::kClosed:
      return close();
  }
}

// ---------------------------------------------------------------------------------------------
// The worker's timeout sweep: one timer per worker instead of one per connection, so an idle
// connection holds no timer and moving a deadline costs a store. Timeouts fire up to one
// interval late, which no HTTP timeout needs to be more precise than.

namespace {
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
}

void sweep_sessions(WorkerContext& wc) {
  const auto now = Clock::now();
  for (HttpSession* s = wc.sessions; s != nullptr;) {
    HttpSession* next = s->list_next;
    if (s->phase_ != HttpSession::Phase::kClosed && s->deadline_ <= now) {
      // Held while it runs: closing may release the handlers that own it.
      if (auto keep = s->weak_from_this().lock()) s->on_timer();
    } else if (s->phase_ != HttpSession::Phase::kClosed && s->cut_at_ <= now) {
      LOG_INFO("{}: closing a connection whose backend {} a reload removed (reload_grace over)",
               s->lis_->name, s->backend_ ? s->backend_->name : "?");
      if (auto keep = s->weak_from_this().lock()) s->close();
    }
    s = next;
  }
}

void retire_sessions(WorkerContext& wc, std::chrono::milliseconds grace) {
  if (!wc.snapshot) return;
  const auto cut = Clock::now() + grace;
  for (HttpSession* s = wc.sessions; s != nullptr;) {
    HttpSession* next = s->list_next;  // drain() may close s, which unlinks it
    if (s->snap_ == wc.snapshot) {
      s = next;
      continue;
    }
    const bool busy = s->phase_ == HttpSession::Phase::kTunnel ||
                      s->phase_ == HttpSession::Phase::kExchange ||
                      s->phase_ == HttpSession::Phase::kConnect;
    const Listener* lis = wc.snapshot->listener_by_key(s->lis_->key);
    if (lis == nullptr) {
      // Its listener was removed: an idle connection closes now, a request in progress gets
      // its response first, a tunnel or long response has the grace.
      if (busy) s->cut_at_ = std::min(s->cut_at_, cut);
      s->drain();
      s = next;
      continue;
    }
    if (!busy || s->backend_ == nullptr) {
      s = next;
      continue;
    }
    bool kept = false;
    for (const auto& b : wc.snapshot->backends) kept = kept || b->name == s->backend_->name;
    // The route that sent it there must stay too (routes are named, "route-N" by default).
    if (kept && s->route_ != nullptr) {
      const std::size_t li = static_cast<std::size_t>(lis - wc.snapshot->listeners.data());
      const auto& routes = wc.snapshot->config->listeners[li].routes;
      kept = std::any_of(routes.begin(), routes.end(),
                         [&](const config::RouteConfig& r) { return r.name == s->route_->name; });
    }
    if (!kept) s->cut_at_ = std::min(s->cut_at_, cut);
    s = next;
  }
}

void start_sweep(WorkerContext& wc) {
  wc.sweep_timer.expires_after(kSweepInterval);
  wc.sweep_timer.async_wait([&wc](const std::error_code& ec) {
    if (ec) return;
    sweep_sessions(wc);
    if (wc.draining && wc.sessions == nullptr) return;
    start_sweep(wc);
  });
}

}  // namespace fulcrum::l7
