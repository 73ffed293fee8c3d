#include "l7/http2/h2_upstream.h"

#include <sys/socket.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cstring>

#include "core/log.h"

namespace fulcrum::l7 {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kOutChunk = 64 * 1024;
constexpr int kBudget = 64;
constexpr auto kIdleCheck = std::chrono::seconds(1);
// The connection window for all of its streams together; each stream has nghttp2's default of
// 64 KiB, which bounds what a slow client's stream holds here.
constexpr std::int32_t kConnWindow = 16 * 1024 * 1024;
}  // namespace

H2UpConn::H2UpConn(asio::io_context& io, std::uint32_t server_id, metrics::ServerSlot* stats)
    : sock_(io), timer_(io), server_id_(server_id), stats_(stats) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2UpConn::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2UpConn::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2UpConn::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2UpConn::on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_continuations(opt, 8);
  nghttp2_session_client_new2(&ng_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, 1);
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnWindow);
}

H2UpConn::~H2UpConn() {
  if (ng_) nghttp2_session_del(ng_);
}

void H2UpConn::connect(const tcp::endpoint& ep, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds idle_timeout, const bool* draining,
                       const H2UpTls& tls) {
  idle_timeout_ = idle_timeout;
  draining_ = draining;
  if (tls.ctx) {
    tls_ctx_ = tls.ctx;
    tls_host_ = std::string(tls.host);
    sessions_ = tls.sessions;
    tls_id_ = tls.ctx->id();
  }
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->connected_ || self->closed_) return;
    if (self->stats_) self->stats_->connect_failures.add();
    self->close("connect timeout");
  });
  sock_.async_connect(ep, [self = shared_from_this()](const std::error_code& ec) {
    if (self->closed_) return;
    self->on_connected(ec);
  });
}

void H2UpConn::on_connected(const std::error_code& ec) {
  if (ec) {
    if (stats_) stats_->connect_failures.add();
    return close("connect failed");
  }
  std::error_code ignored;
  sock_.non_blocking(true, ignored);
  sock_.set_option(tcp::no_delay(true), ignored);
  if (tls_ctx_) {
    tls_ = std::make_unique<tls::TlsConn>(tls_ctx_, sock_.native_handle(), tls_host_, sessions_,
                                          server_id_);
    return handshake();
  }
  on_up();
}

void H2UpConn::handshake() {
  tcp::socket::wait_type wait = tcp::socket::wait_read;
  switch (tls_->handshake()) {
    case tls::TlsConn::Result::kOk:
      // Without ALPN "h2" the server would read our preface as a broken HTTP/1.1 request.
      if (tls_->alpn() != "h2") {
        if (stats_) stats_->connect_failures.add();
        LOG_WARN(
            "HTTP/2 upstream (server {}): the server did not select h2 by ALPN ({}); a "
            "protocol: h2 backend with tls needs h2 over TLS",
            server_id_, tls_->alpn().empty() ? "no ALPN" : tls_->alpn());
        return close("server did not select h2 (ALPN)");
      }
      return on_up();
    case tls::TlsConn::Result::kWantRead:
      break;
    case tls::TlsConn::Result::kWantWrite:
      wait = tcp::socket::wait_write;
      break;
    case tls::TlsConn::Result::kEof:
    case tls::TlsConn::Result::kError: {
      if (stats_) stats_->connect_failures.add();
      if (sessions_) sessions_->drop(server_id_);
      std::error_code ec;
      const auto peer = sock_.remote_endpoint(ec);
      LOG_WARN("HTTP/2 upstream (server {}) {}: TLS handshake failed: {}", server_id_,
               ec ? std::string("?") : peer.address().to_string(), tls::handshake_failure(*tls_));
      return close("upstream TLS handshake failed");
    }
  }
  sock_.async_wait(wait, [self = shared_from_this()](const std::error_code& ec) {
    if (self->closed_ || ec == asio::error::operation_aborted) return;
    self->handshake();
  });
}

ssize_t H2UpConn::recv_some(char* buf, std::size_t cap) {
  if (!tls_) return ::recv(sock_.native_handle(), buf, cap, MSG_DONTWAIT);
  return tls_->recv(buf, cap, tls_read_wants_write_);
}

// After EAGAIN the caller retries with the same bytes (out_ from out_sent_), as OpenSSL wants.
ssize_t H2UpConn::send_some(const char* p, std::size_t len) {
  if (!tls_) return ::send(sock_.native_handle(), p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  iovec iov{const_cast<char*>(p), len};
  return tls_->send(&iov, 1, tls_write_wants_read_);
}

void H2UpConn::on_up() {
  connected_ = true;
  timer_.cancel();
  for (auto& [id, e] : streams_) {
    if (e.user) e.user->on_up_sent();
  }
  arm_idle();
  flush();
  on_readable();
}

void H2UpConn::arm_idle() {
  timer_.expires_after(kIdleCheck);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->closed_) return;
    const bool idle = self->streams_.empty();
    if (!idle) self->idle_since_ = Clock::time_point{};
    if (idle && self->idle_since_ == Clock::time_point{}) self->idle_since_ = Clock::now();
    if (idle && ((self->draining_ && *self->draining_) ||
                 Clock::now() - self->idle_since_ >= self->idle_timeout_)) {
      nghttp2_session_terminate_session(self->ng_, NGHTTP2_NO_ERROR);
      self->flush();
      return self->close("idle");
    }
    self->arm_idle();
  });
}

bool H2UpConn::has_room() const {
  if (closed_ || !nghttp2_session_check_request_allowed(ng_)) return false;
  const std::uint32_t limit =
      nghttp2_session_get_remote_settings(ng_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < std::min<std::uint32_t>(limit, 1000);
}

std::int32_t H2UpConn::submit(const std::vector<nghttp2_nv>& nva, bool has_body,
                              H2UpstreamUser* user) {
  if (!has_room()) return -1;
  nghttp2_data_provider prd{};
  prd.read_callback = &H2UpConn::read_body;
  const std::int32_t id = nghttp2_submit_request(ng_, nullptr, nva.data(), nva.size(),
                                                 has_body ? &prd : nullptr, nullptr);
  if (id < 0) return -1;
  streams_[id].user = user;
  if (connected_) {
    user->on_up_sent();
    schedule_flush();
  }
  return id;
}

void H2UpConn::resume(std::int32_t id) {
  if (closed_) return;
  nghttp2_session_resume_data(ng_, id);
  schedule_flush();
}

void H2UpConn::consume(std::int32_t id, std::size_t n) {
  if (closed_) return;
  const auto it = streams_.find(id);
  if (it != streams_.end()) it->second.unconsumed -= std::min(n, it->second.unconsumed);
  nghttp2_session_consume(ng_, id, n);
  schedule_flush();
}

void H2UpConn::cancel(std::int32_t id) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  // Bytes the client never took still count against the connection window: give them back.
  if (it->second.unconsumed && !closed_) {
    nghttp2_session_consume_connection(ng_, it->second.unconsumed);
  }
  streams_.erase(it);
  if (closed_) return;
  nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  schedule_flush();
}

void H2UpConn::close(const char* reason) {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  timer_.cancel();
  sock_.close(ec);
  // A user's callback may cancel other streams: take each one out before telling its user.
  std::vector<std::int32_t> ids;
  for (const auto& [id, e] : streams_) ids.push_back(id);
  for (std::int32_t id : ids) {
    const auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    const Entry e = std::move(it->second);
    streams_.erase(it);
    if (e.user) e.user->on_up_error(reason, !e.head_seen);
  }
}

void H2UpConn::schedule_flush() {
  if (flush_posted_ || closed_ || !connected_) return;
  flush_posted_ = true;
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void H2UpConn::flush() {
  if (closed_ || !connected_ || in_recv_) return;
  for (int budget = kBudget; budget > 0; --budget) {
    if (out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
      while (out_.size() < kOutChunk) {
        const std::uint8_t* p = nullptr;
        const ssize_t n = nghttp2_session_mem_send(ng_, &p);
        if (n < 0) return close("HTTP/2 error");
        if (n == 0) break;
        out_.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
      }
      if (out_.empty()) break;
    }
    const ssize_t w = send_some(out_.data() + out_sent_, out_.size() - out_sent_);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return close("write failed");
      break;
    }
    if (stats_) stats_->bytes_out.add(static_cast<std::uint64_t>(w));
    out_sent_ += static_cast<std::size_t>(w);
  }
  if (out_sent_ < out_.size() && !write_wait_) {
    write_wait_ = true;
    sock_.async_wait(tls_write_wants_read_ ? tcp::socket::wait_read : tcp::socket::wait_write,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->write_wait_ = false;
                       if (ec || self->closed_) return;
                       self->flush();
                     });
  }
  if (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_) &&
      out_sent_ == out_.size()) {
    close("server ended the connection");
  }
}

void H2UpConn::on_readable() {
  char buf[16 * 1024];
  for (int budget = kBudget; budget > 0 && !closed_; --budget) {
    const ssize_t n = recv_some(buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!read_wait_) {
        read_wait_ = true;
        sock_.async_wait(tls_read_wants_write_ ? tcp::socket::wait_write : tcp::socket::wait_read,
                         [self = shared_from_this()](const std::error_code& ec) {
                           self->read_wait_ = false;
                           if (ec || self->closed_) return;
                           self->on_readable();
                         });
      }
      return flush();
    }
    if (n <= 0) return close(n == 0 ? "server closed the connection" : "read failed");
    if (stats_) stats_->bytes_in.add(static_cast<std::uint64_t>(n));
    auto keep = shared_from_this();
    in_recv_ = true;
    const ssize_t r = nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(buf), n);
    in_recv_ = false;
    if (r < 0) {
      LOG_INFO("HTTP/2 upstream (server {}): {}", server_id_,
               nghttp2_strerror(static_cast<int>(r)));
      return close("HTTP/2 protocol error from the server");
    }
    flush();
  }
  if (!closed_) {
    asio::post(sock_.get_executor(), [self = shared_from_this()] {
      if (!self->closed_) self->on_readable();
    });
  }
}

int H2UpConn::on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                        std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                        std::uint8_t, void* u) {
  auto* c = static_cast<H2UpConn*>(u);
  const auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    int status = 0;
    for (char ch : v) status = status * 10 + (ch - '0');
    it->second.status = status;
    return 0;
  }
  if (!n.empty() && n.front() == ':') return 0;
  it->second.fields.emplace_back(n, v);
  return 0;
}

int H2UpConn::on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u) {
  auto* c = static_cast<H2UpConn*>(u);
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  const auto it = c->streams_.find(f->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  Entry& e = it->second;
  const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  H2UpstreamUser* user = e.user;
  if (f->hd.type == NGHTTP2_HEADERS) {
    if (!e.head_seen) {
      if (e.status < 200) {  // interim response: only HTTP/1.1 clients may get it
        H2Fields fields = std::move(e.fields);
        e.fields.clear();
        if (e.status != 101) user->on_up_interim(e.status, fields);
        return 0;
      }
      e.head_seen = true;
      H2Fields fields = std::move(e.fields);
      e.fields.clear();
      user->on_up_head(e.status, fields, end);
    } else {
      H2Fields fields = std::move(e.fields);
      e.fields.clear();
      user->on_up_trailers(fields);
    }
  }
  // The user may have cancelled the stream from its callback.
  if (end && c->streams_.count(f->hd.stream_id) && c->streams_[f->hd.stream_id].user == user) {
    user->on_up_end();
  }
  return 0;
}

int H2UpConn::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id,
                            const std::uint8_t* data, std::size_t len, void* u) {
  auto* c = static_cast<H2UpConn*>(u);
  const auto it = c->streams_.find(id);
  if (it == c->streams_.end()) {
    nghttp2_session_consume(c->ng_, id, len);  // a cancelled stream's late bytes
    return 0;
  }
  it->second.unconsumed += len;
  it->second.user->on_up_data(data, len);
  return 0;
}

int H2UpConn::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
  auto* c = static_cast<H2UpConn*>(u);
  const auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  Entry e = std::move(it->second);
  c->streams_.erase(it);
  // A stream that ended normally already told its user (on_up_end); a reset one did not.
  if (code != NGHTTP2_NO_ERROR && e.user) {
    e.user->on_up_error(
        code == NGHTTP2_REFUSED_STREAM ? "server refused the stream" : "server reset the stream",
        !e.head_seen);
  }
  if (e.unconsumed) nghttp2_session_consume_connection(c->ng_, e.unconsumed);
  return 0;
}

ssize_t H2UpConn::read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf,
                            std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                            void* u) {
  auto* c = static_cast<H2UpConn*>(u);
  const auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  bool eof = false;
  const std::size_t n = it->second.user->up_body(buf, length, eof);
  if (eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (n == 0 && !eof) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

// ---------------------------------------------------------------------------------------------

std::shared_ptr<H2UpConn> H2UpstreamPool::get(std::uint32_t server_id, const tcp::endpoint& ep,
                                              metrics::ServerSlot* stats,
                                              std::chrono::milliseconds timeout,
                                              std::chrono::milliseconds idle_timeout,
                                              const H2UpTls& tls) {
  auto& list = conns_[server_id];
  list.erase(std::remove_if(list.begin(), list.end(),
                            [](const std::shared_ptr<H2UpConn>& c) { return c->closed(); }),
             list.end());
  // A connection made before a reload changed the backend's TLS is left to idle out.
  const std::uint64_t tls_id = tls.ctx ? tls.ctx->id() : 0;
  for (const auto& c : list) {
    if (c->has_room() && c->tls_id() == tls_id) return c;
  }
  auto c = std::make_shared<H2UpConn>(io_, server_id, stats);
  c->connect(ep, timeout, idle_timeout, draining_, tls);
  list.push_back(c);
  return c;
}

void H2UpstreamPool::close_all() {
  for (auto& [id, list] : conns_) {
    for (auto& c : list) c->close("shutdown");
  }
  conns_.clear();
}

H2UpstreamPool& h2_upstream_pool(asio::io_context& io, const bool* draining) {
  thread_local std::map<asio::io_context*, std::unique_ptr<H2UpstreamPool>> pools;
  auto& p = pools[&io];
  if (!p) p = std::make_unique<H2UpstreamPool>(io, draining);
  return *p;
}

}  // namespace fulcrum::l7
