#include "l7/http2/h2_session.h"

#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/log.h"
#include "l7/http2/h2_headers.h"
#include "l7/http2/h2_session_impl.h"

namespace fulcrum::l7 {

using asio::ip::tcp;

using namespace h2detail;  // NOLINT: the constants shared by the two halves

namespace {

ssize_t send_plain(int fd, const char* p, std::size_t n) {
  return ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

H2Session::H2Session(WorkerContext& wc, std::shared_ptr<const Snapshot> snap,
                     const Listener* listener, tcp::socket sock, const tcp::endpoint& peer,
                     std::unique_ptr<tls::TlsConn> tls)
    : wc_(wc),
      snap_(std::move(snap)),
      lis_(listener),
      sock_(std::move(sock)),
      tls_(std::move(tls)),
      ls_(&listener->stats->slots[wc.worker.index()]),
      timer_(wc.worker.io()),
      queue_timer_(wc.worker.io()) {
  client_addr_ = peer.address();
  if (client_addr_.is_v6() && client_addr_.to_v6().is_v4_mapped()) {
    client_addr_ = asio::ip::make_address_v4(asio::ip::v4_mapped, client_addr_.to_v6());
  }
  client_ip_ = client_addr_.to_string();
  trusted_ = !lis_->trusted_proxies.empty() && lis_->trusted_proxies.contains(client_addr_);
  ls_->open.inc();
}

H2Session::~H2Session() {
  ls_->open.dec();
  if (ng_) nghttp2_session_del(ng_);
}

void H2Session::start(std::string_view already_read) {
  std::error_code ec;
  sock_.non_blocking(true, ec);
  sock_.set_option(tcp::no_delay(true), ec);

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2Session::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Session::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Session::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Session::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Session::on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Request body bytes are acknowledged (WINDOW_UPDATE) only once they went upstream, so a slow
  // server bounds what a client can push.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // nghttp2's own flood limits: queued ACKs (PING/SETTINGS flood), SETTINGS entries, and
  // CONTINUATION frames per header block (CVE-2024-28182). Its reset limit backs up ours.
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);
  nghttp2_option_set_stream_reset_rate_limit(opt, static_cast<std::uint64_t>(kResetBurst * 2),
                                             static_cast<std::uint64_t>(kResetRate * 2));
  nghttp2_session_server_new2(&ng_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const config::Http2Config& c = lis_->http2;
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(c.initial_window_size)},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, static_cast<std::uint32_t>(c.max_frame_size)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(c.max_header_list_size)},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  // The connection window covers a few streams' worth of body at once; each stream is held to
  // its own window too.
  const auto conn_window = static_cast<std::int32_t>(
      std::min<std::uint64_t>(c.initial_window_size * 4 + 65535, (1u << 31) - 1));
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, conn_window);

  idle_deadline_ = Clock::now() + lis_->header_timeout;
  seen_generation_ = snap_->generation;
  arm_timer();
  if (!already_read.empty()) feed(already_read.data(), already_read.size());
  if (closed_) return;
  on_readable();
}

void H2Session::arm_timer() {
  timer_.expires_after(kTick);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->closed_) return;
    self->tick();
    if (!self->closed_) self->arm_timer();
  });
}

// ---------------------------------------------------------------------------------------------
// Client I/O

H2Session::Io H2Session::client_read(char* buf, std::size_t cap, std::size_t& got) {
  got = 0;
  if (tls_) {
    switch (tls_->read(buf, cap, got)) {
      case tls::TlsConn::Result::kOk:
        return Io::kData;
      case tls::TlsConn::Result::kWantRead:
        return Io::kWouldBlock;
      case tls::TlsConn::Result::kWantWrite:
        wait_write();
        return Io::kWouldBlock;
      case tls::TlsConn::Result::kEof:
        return Io::kEof;
      case tls::TlsConn::Result::kError:
        return Io::kError;
    }
  }
  for (;;) {
    const ssize_t n = ::recv(sock_.native_handle(), buf, cap, MSG_DONTWAIT);
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      return Io::kData;
    }
    if (n == 0) return Io::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kWouldBlock;
    return Io::kError;
  }
}

void H2Session::on_readable() {
  auto keep = shared_from_this();
  if (lingering_) return linger();
  char buf[16 * 1024];
  for (int budget = kPumpBudget; budget > 0 && !closed_; --budget) {
    // Output the client does not take stops its input: it cannot queue ACKs without bound.
    if (out_sent_ < out_.size() || terminating_) return flush();
    if (!nghttp2_session_want_read(ng_)) return flush();
    std::size_t got = 0;
    const Io r = client_read(buf, sizeof buf, got);
    if (r == Io::kWouldBlock) {
      // What the input produced (answers, WINDOW_UPDATEs) goes out at the end of this turn,
      // together with the responses of streams whose servers answered in it.
      schedule_flush();
      return wait_read();
    }
    if (r != Io::kData) return close();
    ls_->bytes_in.add(got);
    feed(buf, got);
  }
  schedule_flush();
  if (!closed_) {
    asio::post(wc_.worker.io(), [self = shared_from_this()] {
      if (!self->closed_) self->on_readable();
    });
  }
}

void H2Session::feed(const char* data, std::size_t n) {
  in_feed_ = true;
  const ssize_t r = nghttp2_session_mem_recv(ng_, reinterpret_cast<const std::uint8_t*>(data), n);
  in_feed_ = false;
  if (r < 0) {
    switch (r) {
      case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        return close();
      case NGHTTP2_ERR_FLOODED:
        return fail(NGHTTP2_ENHANCE_YOUR_CALM, "flood of frames needing an answer");
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        return fail(NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood");
      default:
        return fail(NGHTTP2_PROTOCOL_ERROR, nghttp2_strerror(static_cast<int>(r)));
    }
  }
}

// Ends the connection: GOAWAY with `code`, then close once it is written.
void H2Session::fail(nghttp2_error_code code, const char* why) {
  if (terminating_ || closed_) return;
  LOG_INFO("{}: {}: HTTP/2 connection ended ({}): {}", lis_->name, client_ip_,
           nghttp2_http2_strerror(code), why);
  wc_.recent_errors.push({std::chrono::system_clock::now(), lis_->name, client_ip_, 0,
                          std::string("h2 GOAWAY: ") + why});
  terminating_ = true;
  nghttp2_session_terminate_session(ng_, code);
  flush();
}

void H2Session::flush() {
  if (closed_ || in_flush_ || in_feed_ || lingering_) return;
  in_flush_ = true;
  for (int budget = kPumpBudget; budget > 0; --budget) {
    if (out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
      // Take frames only once the previous ones are written: SSL_write wants the same bytes
      // again after WANT_WRITE, and the output stays bounded.
      while (out_.size() < kOutChunk) {
        const std::uint8_t* p = nullptr;
        const ssize_t n = nghttp2_session_mem_send(ng_, &p);
        if (n < 0) {
          in_flush_ = false;
          return close();
        }
        if (n == 0) break;
        out_.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
      }
      if (out_.empty()) break;
    }
    const char* p = out_.data() + out_sent_;
    const std::size_t len = out_.size() - out_sent_;
    ssize_t w;
    if (tls_) {
      const iovec iov{const_cast<char*>(p), len};
      std::size_t n = 0;
      const tls::TlsConn::Result r = tls_->writev(&iov, 1, n);
      if (r != tls::TlsConn::Result::kOk) {
        in_flush_ = false;
        if (r == tls::TlsConn::Result::kWantWrite) return wait_write();
        if (r == tls::TlsConn::Result::kWantRead) return wait_read();
        return close();
      }
      w = static_cast<ssize_t>(n);
    } else {
      w = send_plain(sock_.native_handle(), p, len);
      if (w < 0) {
        if (errno == EINTR) continue;
        in_flush_ = false;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_write();
        return close();
      }
    }
    ls_->bytes_out.add(static_cast<std::uint64_t>(w));
    out_sent_ += static_cast<std::size_t>(w);
  }
  in_flush_ = false;
  if (out_sent_ < out_.size()) return wait_write();
  // An idle connection keeps no output buffer (memory per idle connection).
  if (streams_.empty() && out_.capacity() > 1024) {
    std::string().swap(out_);
    out_sent_ = 0;
  }
  if (terminating_ || (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_))) {
    return linger();
  }
  // Streams whose server reading waited for room: the client took some.
  bool resumed = false;
  for (auto it = streams_.begin(); it != streams_.end();) {
    StreamPtr st = (it++)->second;
    if (st->up_paused && st->up && st->uin.size() < BlockPool::kBlockSize) {
      st->up_paused = false;
      pump_up_read(st);
      if (closed_) return;
      resumed = true;
    }
  }
  // What they read is DATA to send: another round, from the event loop so that a client with a
  // shut window cannot keep this loop spinning.
  if (resumed && nghttp2_session_want_write(ng_)) schedule_flush();
  wait_read();
}

void H2Session::wait_read() {
  if (read_wait_ || closed_) return;
  read_wait_ = true;
  sock_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const std::error_code& ec) {
    self->read_wait_ = false;
    if (self->closed_ || ec == asio::error::operation_aborted) return;
    self->on_readable();
  });
}

void H2Session::wait_write() {
  if (write_wait_ || closed_) return;
  write_wait_ = true;
  sock_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const std::error_code& ec) {
    self->write_wait_ = false;
    if (self->closed_ || ec == asio::error::operation_aborted) return;
    self->flush();
    if (!self->closed_ && self->out_sent_ == self->out_.size()) {
      self->on_readable();
    }
  });
}

void H2Session::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [id, st] : streams_) {
    st->closed = true;
    leave_queue(*st);
    release_upstream(*st, false);
    log_end(*st);
  }
  streams_.clear();
  std::error_code ec;
  timer_.cancel();
  queue_timer_.cancel();
  queue_.clear();
  if (tls_) tls_->shutdown();  // best effort close_notify; the socket closes right after
  sock_.close(ec);
  out_.clear();
}

// After the last frame (a GOAWAY) is written: closing with unread client bytes would turn into
// a RST that can destroy the GOAWAY in flight, so shut our side and read for a moment first.
void H2Session::linger() {
  if (closed_) return;
  if (!lingering_) {
    lingering_ = true;
    linger_until_ = Clock::now() + std::chrono::seconds(2);
    for (auto& [id, st] : streams_) {
      st->closed = true;
      leave_queue(*st);
      release_upstream(*st, false);
      log_end(*st);
    }
    streams_.clear();
    if (tls_) return close();
    std::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
  }
  char buf[16 * 1024];
  for (int budget = kPumpBudget; budget > 0; --budget) {
    std::size_t got = 0;
    const Io r = client_read(buf, sizeof buf, got);
    if (r == Io::kWouldBlock) return wait_read();
    if (r != Io::kData) return close();
  }
  wait_read();
}

// Timeouts, the drain at shutdown, and the zero-window stall.
void H2Session::tick() {
  const auto now = Clock::now();
  if (lingering_) {
    if (now >= linger_until_) close();
    return;
  }
  if (wc_.snapshot && wc_.snapshot->generation != seen_generation_) {
    seen_generation_ = wc_.snapshot->generation;
    after_reload();
  }
  if (wc_.draining && !draining_) {
    draining_ = true;
    nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    flush();
    if (closed_) return;
  }
  if (streams_.empty()) {
    if (now >= idle_deadline_) {
      // Idle (or never sent a request): a graceful GOAWAY, as a keep-alive timeout.
      terminating_ = true;
      nghttp2_session_terminate_session(ng_, NGHTTP2_NO_ERROR);
      flush();
    }
    return;
  }
  for (auto it = streams_.begin(); it != streams_.end() && !closed_;) {
    StreamPtr st = (it++)->second;
    if (st->closed) continue;
    // Response bytes wait but the client's window stays shut: after idle_timeout without a
    // DATA byte taken, the connection is a stall (or an attack holding server connections).
    const bool waiting = st->resp_submitted && (st->resp_fwd > 0 || st->up_paused);
    const bool shut = nghttp2_session_get_stream_remote_window_size(ng_, st->id) <= 0 ||
                      nghttp2_session_get_remote_window_size(ng_) <= 0;
    if (waiting && shut) {
      if (st->stalled_since == Clock::time_point::max()) st->stalled_since = now;
      if (now - st->stalled_since >= lis_->idle_timeout) {
        return fail(NGHTTP2_ENHANCE_YOUR_CALM, "flow-control window closed too long");
      }
    } else {
      st->stalled_since = Clock::time_point::max();
    }
    if (now >= st->cut_at) {
      LOG_INFO("{}: resetting an HTTP/2 stream whose backend {} a reload removed", lis_->name,
               st->backend ? st->backend->name : "?");
      st->cut_at = Clock::time_point::max();
      release_upstream(*st, false);
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
      continue;
    }
    if (now < st->deadline && now < st->total_deadline) continue;
    if (st->queued) {
      leave_queue(*st);
      if (now >= st->total_deadline) {
        respond_error(*st, 504, "request_timeout");
      } else {
        respond_error(*st, 503, "queue timeout");
      }
    } else if (st->connecting) {
      LOG_INFO("{}: connect to {}/{} timed out", lis_->name, st->server->backend, st->server->name);
      balance::record_failure(*st->server);
      st->ss->connect_failures.add();
      retry_or_fail(st, "upstream connect timeout", 504);
    } else if ((st->up || st->h2up) && !st->head_done) {
      balance::record_failure(*st->server);
      st->ss->timeouts.add();
      respond_error(*st, 504,
                    now >= st->total_deadline ? "request_timeout" : "upstream response timeout");
    } else if (st->up || st->h2up || now >= st->total_deadline) {
      release_upstream(*st, false);
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
      st->deadline = Clock::time_point::max();
      st->total_deadline = Clock::time_point::max();
    } else {
      st->deadline = Clock::time_point::max();
    }
  }
  flush();
}

void H2Session::schedule_flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(wc_.worker.io(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

// A new snapshot (reload): as retire_sessions() does for HTTP/1.1, streams busy on a backend
// (or route) the new config no longer has get reload_grace, then are reset; new streams go by
// the new config. A listener the reload removed gets a graceful GOAWAY.
void H2Session::after_reload() {
  const Snapshot& now = *wc_.snapshot;
  if (&now == snap_.get()) return;
  const Listener* lis = now.listener_by_key(lis_->key);
  if (lis == nullptr) {
    if (!draining_) {
      draining_ = true;
      nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                            NGHTTP2_NO_ERROR, nullptr, 0);
    }
    return;
  }
  const auto cut = Clock::now() +
                   std::chrono::duration_cast<std::chrono::milliseconds>(now.config->reload_grace);
  const std::size_t li = static_cast<std::size_t>(lis - now.listeners.data());
  for (auto& [id, st] : streams_) {
    if (st->backend == nullptr || st->resp_done || st->local) continue;
    bool kept = std::any_of(now.backends.begin(), now.backends.end(),
                            [&](const auto& b) { return b->name == st->backend->name; });
    if (kept && st->route != nullptr && li < now.config->listeners.size()) {
      const auto& routes = now.config->listeners[li].routes;
      kept = std::any_of(routes.begin(), routes.end(),
                         [&](const config::RouteConfig& r) { return r.name == st->route->name; });
    }
    if (!kept) st->cut_at = std::min(st->cut_at, cut);
  }
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

H2Session::Stream* H2Session::find(std::int32_t id) {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int H2Session::on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u) {
  auto* s = static_cast<H2Session*>(u);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto st = std::make_shared<Stream>();
  st->id = f->hd.stream_id;
  st->head_at = Clock::now();
  s->streams_[st->id] = std::move(st);
  return 0;
}

int H2Session::on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                         std::uint8_t, void* u) {
  auto* s = static_cast<H2Session*>(u);
  Stream* st = s->find(f->hd.stream_id);
  if (st == nullptr || st->header_overflow) return 0;  // trailers and ignored blocks
  if (st->started) return 0;                           // request trailers: not forwarded
  if (!st->req.add({reinterpret_cast<const char*>(name), namelen},
                   {reinterpret_cast<const char*>(value), valuelen},
                   s->lis_->http2.max_header_list_size)) {
    // Over the SETTINGS_MAX_HEADER_LIST_SIZE we announced: an HPACK bomb, or a client that
    // ignores our settings.
    st->header_overflow = true;
    st->req.fields.clear();
    s->fail(NGHTTP2_ENHANCE_YOUR_CALM, "header list over max_header_list_size");
  }
  return 0;
}

int H2Session::on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u) {
  auto* s = static_cast<H2Session*>(u);
  switch (f->hd.type) {
    case NGHTTP2_RST_STREAM:
      if (!s->resets_.take(kResetBurst, kResetRate)) {
        s->fail(NGHTTP2_ENHANCE_YOUR_CALM, "RST_STREAM flood (rapid reset)");
      }
      return 0;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
      if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0 && !s->control_.take(kControlBurst, kControlRate)) {
        s->fail(NGHTTP2_ENHANCE_YOUR_CALM, "SETTINGS/PING flood");
      }
      return 0;
    case NGHTTP2_HEADERS: {
      const auto it = s->streams_.find(f->hd.stream_id);
      if (it == s->streams_.end()) return 0;
      StreamPtr st = it->second;
      const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
      if (!st->started) {
        if (st->header_overflow || s->terminating_) return 0;
        st->req_end = end;
        s->start_request(st);
      } else if (end && !st->req_end) {
        st->req_end = true;  // trailers end the request
        if (st->local) return 0;
        if (st->req_body == http1::BodyKind::kChunked && !st->h2_upstream) {
          st->body.append("0\r\n\r\n");
        }
        st->body_end_queued = true;
        if (st->up) s->pump_up_write(st);
        if (st->h2up) st->h2up->resume(st->up_id);
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
      const auto it = s->streams_.find(f->hd.stream_id);
      if (it == s->streams_.end()) return 0;
      StreamPtr st = it->second;
      st->req_end = true;
      if (st->local || !st->started) return 0;
      if (st->req_body == http1::BodyKind::kChunked && !st->h2_upstream) {
        st->body.append("0\r\n\r\n");
      }
      st->body_end_queued = true;
      if (st->up && !st->connecting) s->pump_up_write(st);
      if (st->h2up) st->h2up->resume(st->up_id);
      return 0;
    }
    default:
      return 0;
  }
}

int H2Session::on_data_chunk(nghttp2_session* ng, std::uint8_t, std::int32_t id,
                             const std::uint8_t* data, std::size_t len, void* u) {
  auto* s = static_cast<H2Session*>(u);
  const auto it = s->streams_.find(id);
  if (it == s->streams_.end() || it->second->local || !it->second->started ||
      (it->second->resp_done && !it->second->up && !it->second->h2up)) {
    nghttp2_session_consume(ng, id, len);  // nobody wants these bytes: let the client go on
    return 0;
  }
  StreamPtr st = it->second;
  st->req_body_seen += len;
  if (s->lis_->max_body != 0 && st->req_body_seen > s->lis_->max_body) {
    nghttp2_session_consume(ng, id, len);
    if (!st->resp_submitted) {
      s->respond_error(*st, 413, "request body over max_body");
    } else {
      nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    return 0;
  }
  if (st->req_body == http1::BodyKind::kChunked && !st->h2_upstream) {
    char size[20];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", len);
    st->body.append(size, static_cast<std::size_t>(n));
    st->body.append(reinterpret_cast<const char*>(data), len);
    st->body.append("\r\n");
  } else {
    st->body.append(reinterpret_cast<const char*>(data), len);
  }
  st->body_unacked += len;
  if (st->up && !st->connecting) s->pump_up_write(st);
  if (st->h2up) st->h2up->resume(st->up_id);
  return 0;
}

int H2Session::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* u) {
  auto* s = static_cast<H2Session*>(u);
  const auto it = s->streams_.find(id);
  if (it == s->streams_.end()) return 0;
  StreamPtr st = std::move(it->second);
  s->streams_.erase(it);
  st->closed = true;
  s->leave_queue(*st);
  // A stream reset before its response completed leaves its server connection mid-exchange.
  s->release_upstream(*st, false);
  s->log_end(*st);
  if (st->head_at != Clock::time_point{} && st->resp_done) {
    s->ls_->duration.observe(Clock::now() - st->head_at);
  }
  if (s->streams_.empty()) s->idle_deadline_ = Clock::now() + s->lis_->idle_timeout;
  return 0;
}

ssize_t H2Session::read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* src, void* u) {
  auto* st = static_cast<Stream*>(src->ptr);
  if (!st->local_body.empty() || st->local) {
    const std::size_t n = std::min(length, st->local_body.size() - st->local_sent);
    std::memcpy(buf, st->local_body.data() + st->local_sent, n);
    st->local_sent += n;
    if (st->local_sent == st->local_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (st->log) st->log->bytes += n;
    return static_cast<ssize_t>(n);
  }
  if (st->h2_upstream) return static_cast<H2Session*>(u)->read_h2_body(st, buf, length, flags);
  const std::size_t n = std::min(length, st->resp_fwd);
  if (n == 0 && !st->resp_done) return NGHTTP2_ERR_DEFERRED;
  if (n > 0) {
    std::memcpy(buf, st->uin.data(), n);
    st->uin.consume(n);
    st->resp_fwd -= n;
    st->stalled_since = Clock::time_point::max();
    if (st->log) st->log->bytes += n;
  }
  if (st->resp_done && st->resp_fwd == 0) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    st->uin.release();
  }
  return static_cast<ssize_t>(n);
}

// DATA for a stream whose server speaks HTTP/2: its payload, then its trailers (gRPC status).
ssize_t H2Session::read_h2_body(Stream* st, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* flags) {
  const std::size_t n = std::min(length, st->h2data.size() - st->h2data_off);
  if (n == 0 && !st->resp_done) return NGHTTP2_ERR_DEFERRED;
  if (n > 0) {
    std::memcpy(buf, st->h2data.data() + st->h2data_off, n);
    st->h2data_off += n;
    st->resp_fwd -= n;
    st->stalled_since = Clock::time_point::max();
    if (st->log) st->log->bytes += n;
    if (st->h2up) st->h2up->consume(st->up_id, n);  // the server may send as many again
    if (st->h2data_off == st->h2data.size()) {
      st->h2data.clear();
      st->h2data_off = 0;
    }
  }
  if (st->resp_done && st->h2data.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!st->trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      http2::to_client_nva(0, st->trailers, nullptr, {}, st->hdr_store, nva_);
      nghttp2_submit_trailer(ng_, st->id, nva_.data(), nva_.size());
      st->trailers.clear();
    }
  }
  return static_cast<ssize_t>(n);
}

// ---------------------------------------------------------------------------------------------

void start_h2_session(WorkerContext& wc, std::shared_ptr<const Snapshot> snap,
                      const Listener* listener, tcp::socket sock, const tcp::endpoint& peer,
                      std::unique_ptr<tls::TlsConn> tls, std::string_view already_read) {
  auto s = std::make_shared<H2Session>(wc, std::move(snap), listener, std::move(sock), peer,
                                       std::move(tls));
  s->start(already_read);
}

}  // namespace fulcrum::l7
