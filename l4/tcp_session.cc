#include "l4/tcp_session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "l4/client_hello.h"
#include "l4/proxy_protocol.h"

namespace fulcrum::l4 {

namespace {

using asio::ip::tcp;

// The copy path's buffer, taken like a pipe only while bytes are pending.
constexpr std::size_t kCopyBuffer = 16 * 1024;
// Splice rounds one direction runs before it lets the worker's other sessions go first.
constexpr int kTurns = 16;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

void set_reset_on_close(tcp::socket& s) {
  if (!s.is_open()) return;
  const linger l{1, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace

TcpSession::TcpSession(TcpWorker& w, std::shared_ptr<const l7::Snapshot> snap,
                       const l7::Listener* listener, tcp::socket client, const tcp::endpoint& peer,
                       TcpListenerCount* count)
    : w_(w),
      snap_(std::move(snap)),
      lis_(listener),
      count_(count),
      client_(std::move(client)),
      upstream_(w.worker.io()),
      client_src_(peer),
      ls_(&listener->stats->slots[w.worker.index()]) {
  ls_->connections.add();
  ls_->open.inc();
  dirs_[0].src = &client_;
  dirs_[0].dst = &upstream_;
  dirs_[1].src = &upstream_;
  dirs_[1].dst = &client_;
  list_next = w_.sessions;
  if (w_.sessions) w_.sessions->list_prev = this;
  w_.sessions = this;
  ++w_.session_count;
}

TcpSession::~TcpSession() {
  close(false);
  ls_->open.dec();
  if (list_prev) list_prev->list_next = list_next;
  if (list_next) list_next->list_prev = list_prev;
  if (w_.sessions == this) w_.sessions = list_next;
  --w_.session_count;
  if (count_) count_->sessions.fetch_sub(1, std::memory_order_relaxed);
}

void TcpSession::start() {
  std::error_code ec;
  client_.non_blocking(true, ec);
  client_.set_option(tcp::no_delay(true), ec);
  backend_ = lis_->backend;
  deadline_ = w_.now + lis_->header_timeout;
  if (!lis_->proxy_protocol_from.empty()) {
    // Only the configured load balancers may connect, and each must say who its client is.
    if (!lis_->proxy_protocol_from.contains(client_src_.address())) {
      LOG_DEBUG("{}: {} is not in proxy_protocol_from; closed", lis_->name,
                client_src_.address().to_string());
      return reject();
    }
    head_ = std::make_unique<char[]>(kHeadSize);
    phase_ = Phase::kProxyHeader;
    return read_proxy_header();
  }
  if (lis_->sni_routing) {
    head_ = std::make_unique<char[]>(kHeadSize);
    phase_ = Phase::kHello;
    return read_hello();
  }
  connect_next();
}

void TcpSession::drain() {
  if (phase_ == Phase::kProxyHeader || phase_ == Phase::kHello || phase_ == Phase::kQueued) {
    close(true);
  }
}

void TcpSession::retire(const l7::Snapshot& now, Clock::time_point cut) {
  if (phase_ == Phase::kClosed || snap_.get() == &now) return;
  bool kept = now.listener_by_key(lis_->key) != nullptr;
  if (kept && backend_ != nullptr) {
    kept = std::any_of(now.backends.begin(), now.backends.end(),
                       [&](const auto& b) { return b->name == backend_->name; });
  }
  if (!kept) cut_at_ = std::min(cut_at_, cut);
}

void TcpSession::on_timer() {
  if (cut_at_ <= w_.now && phase_ != Phase::kClosed) {
    LOG_DEBUG("{}: reload_grace over after a reload removed the session's listener or backend",
              lis_->name);
    return close(false);
  }
  switch (phase_) {
    case Phase::kProxyHeader:
    case Phase::kHello:
      LOG_DEBUG("{}: header_timeout waiting for the client's first bytes", lis_->name);
      return close(true);
    case Phase::kQueued:
      LOG_DEBUG("{}: queue timeout waiting for a server of backend {}", lis_->name,
                backend_->name);
      return reject();
    case Phase::kConnect:
      return connect_failed("timed out");
    case Phase::kProxySend:
    case Phase::kRelay:
      LOG_DEBUG("{}: idle_timeout", lis_->name);
      return close(false);
    case Phase::kClosed:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Before the upstream is chosen. The client's first bytes are read (consumed) into `head_`
// rather than peeked: the reactor re-arms a readiness wait with the socket's current state, so
// waiting on a socket that still holds peeked bytes would wake at once, again and again, until
// the rest arrived. What follows the PROXY header stays in `head_` and is the first thing the
// relay writes to the server; from then on the relay splices.

TcpSession::Fill TcpSession::fill_head() {
  if (head_len_ == kHeadSize) return Fill::kEnd;  // full, and the parser still wants more
  for (;;) {
    const ssize_t n =
        ::recv(client_.native_handle(), head_.get() + head_len_, kHeadSize - head_len_, 0);
    if (n > 0) {
      head_len_ += static_cast<std::size_t>(n);
      return Fill::kData;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) return Fill::kWait;
    return Fill::kEnd;  // EOF or error before the header was complete
  }
}

void TcpSession::wait_client_readable(void (TcpSession::*next)()) {
  client_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this(), next](const std::error_code& ec) {
                       if (self->phase_ == Phase::kClosed || ec == asio::error::operation_aborted)
                         return;
                       ((*self).*next)();
                     });
}

std::span<const std::uint8_t> TcpSession::head() const {
  return {reinterpret_cast<const std::uint8_t*>(head_.get()), head_len_};
}

void TcpSession::read_proxy_header() {
  for (;;) {
    const proxy::ParseResult r = proxy::parse(head());
    if (r.status == proxy::Status::kInvalid) {
      LOG_DEBUG("{}: bad PROXY header from {}: {}", lis_->name, client_src_.address().to_string(),
                r.error ? r.error : "invalid");
      return reject();
    }
    if (r.status == proxy::Status::kDone) {
      // Drop the header; the payload after it is the client's and goes to the server.
      std::memmove(head_.get(), head_.get() + r.consumed, head_len_ - r.consumed);
      head_len_ -= r.consumed;
      // LOCAL (the balancer's own health check): the connection's real endpoints stand.
      if (!r.addresses.local) {
        client_src_ = r.addresses.source;
        client_dst_ = r.addresses.destination;
        have_client_dst_ = true;
      }
      if (lis_->sni_routing) {
        phase_ = Phase::kHello;
        return read_hello();
      }
      return connect_next();
    }
    switch (fill_head()) {
      case Fill::kData:
        continue;
      case Fill::kWait:
        return wait_client_readable(&TcpSession::read_proxy_header);
      case Fill::kEnd:
        return close(true);
    }
  }
}

void TcpSession::read_hello() {
  for (;;) {
    const HelloResult r = peek_client_hello(head());
    switch (r.status) {
      case HelloStatus::kIncomplete:
        break;
      case HelloStatus::kInvalid:
        LOG_DEBUG("{}: malformed ClientHello from {}: {}", lis_->name,
                  client_src_.address().to_string(), r.error ? r.error : "invalid");
        return reject();
      case HelloStatus::kNotTls:
        backend_ = lis_->backend;
        return routed(r.server_name());
      case HelloStatus::kDone:
        backend_ = r.sni_len == 0 ? lis_->backend : route_sni(r.server_name());
        return routed(r.server_name());
    }
    switch (fill_head()) {
      case Fill::kData:
        continue;
      case Fill::kWait:
        return wait_client_readable(&TcpSession::read_hello);
      case Fill::kEnd:
        return close(true);
    }
  }
}

void TcpSession::routed(std::string_view server_name) {
  if (backend_ == nullptr) {
    LOG_DEBUG("{}: no sni_routes entry for '{}' and no default backend; closed", lis_->name,
              server_name);
    return reject();
  }
  connect_next();
}

// Exact names first, then the longest wildcard suffix, then the listener's default backend.
const l7::Backend* TcpSession::route_sni(std::string_view name) const {
  char lower[256];
  const std::size_t len = std::min(name.size(), sizeof lower);
  for (std::size_t i = 0; i < len; ++i) {
    const char c = name[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view host(lower, len);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // absolute form
  if (auto it = lis_->sni_exact.find(host); it != lis_->sni_exact.end()) return it->second;
  for (const auto& [suffix, backend] : lis_->sni_wildcards) {
    if (host.size() > suffix.size() && host.ends_with(suffix)) return backend;
  }
  return lis_->backend;
}

// ---------------------------------------------------------------------------------------------
// Choosing and connecting to a server

void TcpSession::connect_next() {
  if (attempts_ == 0 && backend_->hashes) hash_ = balance::hash_of(client_src_.address());
  ++attempts_;
  const balance::Server* s = acquire_server();
  if (s == nullptr) {
    if (backend_full()) return enqueue();
    // Nothing usable: refuse at once rather than hold the client in a connect that cannot work.
    LOG_DEBUG("{}: no usable server in backend {}; connection refused", lis_->name,
              backend_->name);
    return reject();
  }
  connect_to(s);
}

const balance::Server* TcpSession::acquire_server() {
  const l7::Backend& b = *backend_;
  balance::PickContext ctx{attempts_ - 1u, failed_[0], {}, hash_, failed_[1]};
  const balance::Server* s = b.balancer->pick(ctx);
  // A server at its max_connections is skipped like one that is down (another worker may have
  // taken the last slot since pick() looked).
  if (s && !balance::try_acquire(*s)) {
    ctx.avoid_also = s;
    s = b.balancer->pick(ctx);
    if (s && !balance::try_acquire(*s)) s = nullptr;
  }
  return s;
}

bool TcpSession::backend_full() const {
  for (const auto& s : backend_->servers) {
    if (balance::usable(*s) && !balance::has_room(*s)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The queue: as HAProxy's for `maxconn`, a connection that finds every usable server full
// waits (its bytes stay in the kernel) until a slot frees or `queue.timeout` passes.

void TcpSession::enqueue() {
  const l7::Backend& b = *backend_;
  --attempts_;  // this attempt has not happened yet: try_dequeue() makes it
  if (b.queue_size == 0) {
    LOG_DEBUG("{}: every server of backend {} is at max_connections; connection refused",
              lis_->name, b.name);
    return reject();
  }
  if (b.queued.fetch_add(1, std::memory_order_relaxed) >= b.queue_size) {
    b.queued.fetch_sub(1, std::memory_order_relaxed);
    LOG_DEBUG("{}: queue of backend {} full; connection refused", lis_->name, b.name);
    return reject();
  }
  phase_ = Phase::kQueued;
  b.stats->slots[w_.worker.index()].queued.add();
  q_self_ = shared_from_this();
  deadline_ = Clock::now() + b.queue_timeout;
  w_.queue.push(*this);
}

bool TcpSession::try_dequeue() {
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

void TcpSession::leave_queue() {
  if (!q_self_) return;
  w_.queue.remove(*this);
  backend_->queued.fetch_sub(1, std::memory_order_relaxed);
  // The last reference may be this one, and the caller is still inside a member function:
  // drop it from the event loop instead.
  asio::post(w_.worker.io(), [self = std::move(q_self_)] {});
}

void TcpSession::connect_to(const balance::Server* s) {
  const l7::Backend& b = *backend_;
  server_ = s;
  ss_ = &snap_->server_stats[s->id]->slots[w_.worker.index()];
  phase_ = Phase::kConnect;
  deadline_ = w_.now + b.connect_timeout;
  // A non-blocking connect by hand rather than async_connect: the socket is born O_NONBLOCK
  // and the outcome is read with one getsockopt, which saves asio's FIONBIO and poll() calls
  // on every connection (measurable in l4-close-64).
  const tcp::endpoint& ep = s->endpoint;
  const int fd =
      ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    LOG_WARN("{}: cannot open a socket: {}", lis_->name, std::strerror(errno));
    return close(true);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::error_code ec;
  upstream_.assign(ep.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    LOG_WARN("{}: cannot register a socket: {}", lis_->name, ec.message());
    return close(true);
  }
  if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0) {
    return on_connected({});
  }
  if (errno != EINPROGRESS) return on_connected(std::error_code(errno, std::system_category()));
  upstream_.async_wait(
      tcp::socket::wait_write, [self = shared_from_this()](const std::error_code& ec) {
        if (self->phase_ != Phase::kConnect || ec == asio::error::operation_aborted) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(self->upstream_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
          err = errno;
        }
        self->on_connected(err != 0 ? std::error_code(err, std::system_category()) : ec);
      });
}

void TcpSession::reject() {
  ls_->rejected.add();
  close(true);
}

void TcpSession::connect_failed(const char* why) {
  LOG_INFO("{}: connect to {}/{} failed: {}", lis_->name, server_->backend, server_->name, why);
  balance::record_failure(*server_);
  ss_->connect_failures.add();
  failed_[1] = failed_[0];
  failed_[0] = server_;
  release_server();
  std::error_code ec;
  upstream_.close(ec);  // a connect still in flight completes as operation_aborted
  if (attempts_ <= backend_->retries && !w_.draining) return connect_next();
  close(true);
}

void TcpSession::on_connected(const std::error_code& ec) {
  if (ec) return connect_failed(ec.message().c_str());
  balance::record_success(*server_);
  if (backend_->send_proxy_protocol == 0) return start_relay();
  if (!have_client_dst_) {
    std::error_code ec;
    client_dst_ = client_.local_endpoint(ec);  // asked only here: one syscall fewer per session
  }
  const proxy::Addresses a{client_src_, client_dst_, false};
  const std::size_t cap = std::max(proxy::kMaxV1, proxy::kMaxV2);
  proxy_out_ = std::make_unique<char[]>(cap);
  const std::size_t len = backend_->send_proxy_protocol == 1
                              ? proxy::write_v1(a, std::span<char>(proxy_out_.get(), cap))
                              : proxy::write_v2(a, std::span<char>(proxy_out_.get(), cap));
  if (len == 0) {
    LOG_WARN("{}: cannot express {} in a PROXY header", lis_->name,
             client_src_.address().to_string());
    return close(true);
  }
  proxy_out_len_ = static_cast<std::uint16_t>(len);
  proxy_out_off_ = 0;
  phase_ = Phase::kProxySend;
  deadline_ = w_.now + lis_->idle_timeout;
  send_proxy_header();
}

void TcpSession::send_proxy_header() {
  while (proxy_out_off_ < proxy_out_len_) {
    const ssize_t n = ::send(upstream_.native_handle(), proxy_out_.get() + proxy_out_off_,
                             proxy_out_len_ - proxy_out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      proxy_out_off_ += static_cast<std::uint16_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && would_block(errno)) {
      upstream_.async_wait(
          tcp::socket::wait_write, [self = shared_from_this()](const std::error_code& ec) {
            if (self->phase_ != Phase::kProxySend || ec == asio::error::operation_aborted) return;
            self->send_proxy_header();
          });
      return;
    }
    return close(true);
  }
  proxy_out_.reset();
  start_relay();
}

void TcpSession::release_server() {
  if (server_ == nullptr) return;
  balance::release(*server_);
  server_ = nullptr;
  w_.queue.wake();
}

// ---------------------------------------------------------------------------------------------
// The relay

void TcpSession::start_relay() {
  phase_ = Phase::kRelay;
  if (head_len_ > 0) {
    // The client's bytes read with its PROXY header or ClientHello go out first, as a copy.
    Direction& d = dirs_[0];
    d.buf = std::move(head_);
    d.pending = head_len_;
    d.off = 0;
  }
  head_.reset();
  head_len_ = 0;
  deadline_ = w_.now + lis_->idle_timeout;
  // The client has usually sent its first bytes by now: try them at once.
  pump(0);
  // A fresh server connection rarely has bytes yet: wait rather than try (the wait reports a
  // greeting that is already there at once).
  if (phase_ == Phase::kRelay) wait_read(1);
}

void TcpSession::pump(int i) {
  Direction& d = dirs_[i];
  if (phase_ != Phase::kRelay || d.done) return;
  const int src = d.src->native_handle();
  const int dst = d.dst->native_handle();
  for (int turn = 0; turn < kTurns; ++turn) {
    if (d.pending > 0) {
      const ssize_t n = d.pipe ? ::splice(d.pipe.r, nullptr, dst, nullptr, d.pending, kSpliceFlags)
                               : ::send(dst, d.buf.get() + d.off, d.pending, MSG_NOSIGNAL);
      if (n > 0) {
        d.pending -= static_cast<std::size_t>(n);
        d.off += static_cast<std::size_t>(n);
        (i == 0 ? ss_->bytes_out : ls_->bytes_out).add(static_cast<std::uint64_t>(n));
        deadline_ = w_.now + lis_->idle_timeout;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && would_block(errno)) return wait_write(i);
      // The receiving side reset or vanished: the sender must learn it too.
      LOG_DEBUG("{}: write failed: {}", lis_->name, std::strerror(errno));
      return close(true);
    }
    if (d.eof) return finish(i);
    if (!d.pipe && !d.buf) {
      if (copy_only_ || !w_.pipes.take(d.pipe)) d.buf = std::make_unique<char[]>(kCopyBuffer);
    }
    ssize_t n;
    if (d.pipe) {
      n = ::splice(src, nullptr, d.pipe.w, nullptr, PipePool::kPipeSize, kSpliceFlags);
    } else {
      n = ::recv(src, d.buf.get(), kCopyBuffer, 0);
      d.off = 0;
    }
    if (n > 0) {
      d.pending = static_cast<std::size_t>(n);
      (i == 0 ? ls_->bytes_in : ss_->bytes_in).add(static_cast<std::uint64_t>(n));
      deadline_ = w_.now + lis_->idle_timeout;
      continue;
    }
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      drop_buffer(d);  // idle: hold no pipe while waiting
      return wait_read(i);
    }
    if (d.pipe && (errno == EINVAL || errno == ENOSYS)) {
      // This socket pair cannot be spliced: copy through user space from now on.
      copy_only_ = true;
      w_.pipes.give(d.pipe);
      continue;
    }
    LOG_DEBUG("{}: read failed: {}", lis_->name, std::strerror(errno));
    return close(true);  // ECONNRESET and the like: pass the reset on
  }
  // Still busy after a fair share: let the worker's other sessions run first.
  asio::post(w_.worker.io(), [self = shared_from_this(), i] { self->pump(i); });
}

void TcpSession::wait_read(int i) {
  Direction& d = dirs_[i];
  if (d.read_wait) return;
  d.read_wait = true;
  d.src->async_wait(tcp::socket::wait_read,
                    [self = shared_from_this(), i](const std::error_code& ec) {
                      self->dirs_[i].read_wait = false;
                      if (self->phase_ == Phase::kClosed || ec == asio::error::operation_aborted)
                        return;
                      self->pump(i);
                    });
}

void TcpSession::wait_write(int i) {
  Direction& d = dirs_[i];
  if (d.write_wait) return;
  d.write_wait = true;
  d.dst->async_wait(tcp::socket::wait_write,
                    [self = shared_from_this(), i](const std::error_code& ec) {
                      self->dirs_[i].write_wait = false;
                      if (self->phase_ == Phase::kClosed || ec == asio::error::operation_aborted)
                        return;
                      self->pump(i);
                    });
}

// Everything the source sent before its FIN has been delivered: pass the FIN on.
void TcpSession::finish(int i) {
  Direction& d = dirs_[i];
  d.done = true;
  drop_buffer(d);
  if (::shutdown(d.dst->native_handle(), SHUT_WR) != 0 && errno != ENOTCONN) {
    return close(true);
  }
  if (dirs_[0].done && dirs_[1].done) close(false);
}

void TcpSession::drop_buffer(Direction& d) {
  if (d.pending == 0) {
    w_.pipes.give(d.pipe);
  } else {
    w_.pipes.discard(d.pipe);
    d.pending = 0;
  }
  d.buf.reset();
  d.off = 0;
}

void TcpSession::close(bool reset) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  for (Direction& d : dirs_) {
    d.done = true;
    drop_buffer(d);
  }
  head_.reset();
  proxy_out_.reset();
  if (reset) {
    set_reset_on_close(client_);
    set_reset_on_close(upstream_);
  }
  std::error_code ec;
  client_.close(ec);  // pending waits complete as operation_aborted and release the session
  upstream_.close(ec);
  release_server();
  leave_queue();
}

// ---------------------------------------------------------------------------------------------
// The worker's sweep

namespace {
constexpr auto kSweepInterval = std::chrono::milliseconds(100);

void sweep(TcpWorker& w) {
  w.now = Clock::now();
  for (TcpSession* s = w.sessions; s != nullptr;) {
    TcpSession* next = s->list_next;
    if (s->expired(w.now)) {
      // Held while it runs: closing may release the handlers that own it.
      if (auto keep = s->weak_from_this().lock()) s->on_timer();
    }
    s = next;
  }
}
}  // namespace

void start_sweep(TcpWorker& w) {
  w.sweep_timer.expires_after(kSweepInterval);
  w.sweep_timer.async_wait([&w](const std::error_code& ec) {
    if (ec) return;
    sweep(w);
    if (w.draining && w.sessions == nullptr) return;
    start_sweep(w);
  });
}

void drain_sessions(TcpWorker& w) {
  w.draining = true;
  for (TcpSession* s = w.sessions; s != nullptr;) {
    TcpSession* next = s->list_next;
    if (auto keep = s->weak_from_this().lock()) s->drain();
    s = next;
  }
}

void retire_sessions(TcpWorker& w, std::chrono::milliseconds grace) {
  if (!w.snapshot) return;
  const Clock::time_point cut = Clock::now() + grace;
  for (TcpSession* s = w.sessions; s != nullptr; s = s->list_next) s->retire(*w.snapshot, cut);
}

void abort_sessions(TcpWorker& w) {
  for (TcpSession* s = w.sessions; s != nullptr;) {
    TcpSession* next = s->list_next;
    if (auto keep = s->weak_from_this().lock()) s->abort();
    s = next;
  }
  w.sweep_timer.cancel();
  w.queue.cancel();
}

}  // namespace fulcrum::l4
