// l7/http2/h2_stream.cc — the request side of a stream: routing, answers the proxy gives itself,
// choosing a server (with the backend queue), and connecting to it.
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "l7/forward.h"
#include "l7/http2/h2_session_impl.h"
#include "l7/request_keys.h"
#include "tls/tls_conn.h"

namespace fulcrum::l7 {

using asio::ip::tcp;
using namespace h2detail;  // NOLINT

// ---------------------------------------------------------------------------------------------
// A request

void H2Session::start_request(const StreamPtr& sp) {
  Stream& st = *sp;
  st.started = true;
  // Each request starts on the worker's current snapshot, as HTTP/1.1 requests do.
  // A connection's streams share one listener view, so it moves only while no other stream runs.
  if (wc_.snapshot && wc_.snapshot != snap_ && streams_.size() == 1) {
    if (const Listener* now = wc_.snapshot->listener_by_key(lis_->key)) {
      snap_ = wc_.snapshot;
      lis_ = now;
      trusted_ = !lis_->trusted_proxies.empty() && lis_->trusted_proxies.contains(client_addr_);
    }
  }
  http1::RequestHead& h = wc_.req_scratch;
  std::string cookie;
  const int bad = http2::to_request_head(st.req, st.req_end, cookie, h);
  st.method = http2::method_id(st.req.method);
  if (lis_->access_log) {
    st.log = std::make_unique<AccessRecord>();
    AccessRecord& r = *st.log;
    r.active = true;
    r.client = client_ip_;
    r.listener = lis_->name;
    r.start_wall = std::chrono::system_clock::now();
    r.start = Clock::now();
    r.method = st.req.method;
    r.target = st.req.path;
    r.protocol = "HTTP/2.0";
    r.host = st.req.authority;
    for (const auto& [name, value] : st.req.fields) {
      if (name == "referer") r.referer = value;
      if (name == "user-agent") r.user_agent = value;
      if (name == "host" && r.host.empty()) r.host = value;
    }
  }
  if (bad != 0) return respond_error(st, bad, bad == 431 ? "too many header fields" : "no host");
  st.req_body = h.body;
  if (lis_->max_body != 0 && h.body == http1::BodyKind::kContentLength &&
      h.content_length > lis_->max_body) {
    return respond_error(st, 413, "content-length over max_body");
  }
  if (h.method_id == http1::Method::kConnect) {
    return respond_error(st, 405, "CONNECT to a reverse proxy");
  }
  st.total_deadline = lis_->request_timeout.count() > 0 ? Clock::now() + lis_->request_timeout
                                                        : Clock::time_point::max();
  std::string_view path, query;
  split_target(h.target, path, query);
  const std::string_view host = h.host;
  st.backend = lis_->backend;
  if (lis_->router)
    st.route = lis_->router->match({h, path, query, host_without_port(host), client_addr_});
  if (st.route) {
    st.route->stats->slots[wc_.worker.index()].requests.add();
    switch (st.route->action) {
      case config::RouteConfig::Action::kRespond:
      case config::RouteConfig::Action::kRedirect:
        return respond_local(st, host, path, query);
      case config::RouteConfig::Action::kSplit:
        st.backend = st.route->pick_split(wc_.random());
        break;
      case config::RouteConfig::Action::kForward:
        st.backend = st.route->backend;
        break;
    }
  }
  if (st.backend == nullptr) return respond_error(st, 404, "no route");
  st.h2_upstream = st.backend->h2;
  for (const auto& [name, value] : st.req.fields) {
    if (name == "te" && value == "trailers") st.te_trailers = true;
  }
  st.hash = st.backend->hashes ? request_hash(*st.backend, h, path, query, client_addr_) : 0;
  st.sticky =
      st.backend->sticky_cookie.empty() ? nullptr : sticky_server(*st.backend, h, st.sticky_key);

  std::string_view target;
  if (st.route && st.route->rewrites_path()) {
    target = rewrite_target(st.route, path, query, wc_.scratch);
  }
  const CompiledHeaderOps* ops =
      st.route && !st.route->request_ops.empty() ? &st.route->request_ops : nullptr;
  Buffer out;
  out.reserve(wc_.worker.blocks(), http2::head_size_hint(h) + kForwardOverhead + target.size() +
                                       (ops ? kForwardOverhead : 0));
  ClientInfo ci{client_ip_, client_addr_.is_v6(), tls_ ? "https" : "http", trusted_, {}, {}};
  if (tls_ && !lis_->client_subject_header.empty()) {
    ci.subject_field = lis_->client_subject_header;
    ci.subject = tls_->peer_subject();
  }
  if (!write_request_head(out, h, ci, false, target, ops, st.req.authority)) {
    out.release();
    return respond_error(st, 431, "request head too large after rewriting");
  }
  st.head.assign(out.view());
  out.release();
  // The header strings are no longer needed: the head went into `st.head`.
  st.req.fields.clear();
  st.req.fields.shrink_to_fit();
  if (st.req_end) st.body_end_queued = true;
  connect_upstream(sp);
}

void H2Session::respond_local(Stream& st, std::string_view full_host, std::string_view path,
                              std::string_view query) {
  const Route& r = *st.route;
  st.local = true;
  if (r.action == config::RouteConfig::Action::kRespond) {
    // The route's head is HTTP/1.1 text: parse it back into fields.
    std::string text = r.respond_head + "\r\n";
    http1::ResponseHead& rh = wc_.resp_scratch;
    http1::Limits limits;
    limits.max_head = text.size() + 1;
    const auto pr = http1::parse_response_head(text, rh, limits, st.method);
    if (pr.status != http1::ParseStatus::kComplete) return respond_error(st, 500, "bad respond");
    http2::to_response_nva(rh, nullptr, {}, st.hdr_store, nva_, hsts());
    st.local_body = st.method == http1::Method::kHead ? std::string() : r.respond_body;
    return submit(st, r.respond_status, nva_, !st.local_body.empty());
  }
  std::string location;
  const std::string_view host = host_without_port(full_host);
  for (const auto& piece : r.redirect) {
    switch (piece.kind) {
      case Route::Piece::Kind::kLiteral:
        location += piece.text;
        break;
      case Route::Piece::Kind::kScheme:
        location += tls_ ? "https" : "http";
        break;
      case Route::Piece::Kind::kHost:
        location += host;
        break;
      case Route::Piece::Kind::kPath:
        location += path;
        break;
      case Route::Piece::Kind::kQuery:
        location += query;
        break;
      case Route::Piece::Kind::kRequestUri:
        location += st.req.path;
        break;
    }
  }
  http2::to_client_nva(r.redirect_status, {{"location", location}, {"content-length", "0"}},
                       nullptr, {}, st.hdr_store, nva_, hsts());
  submit(st, r.redirect_status, nva_, false);
}

void H2Session::respond_error(Stream& st, int status, const char* reason) {
  leave_queue(st);
  LOG_INFO("{}: {} -> {} ({}, HTTP/2 stream {})", lis_->name, client_ip_, status, reason, st.id);
  wc_.recent_errors.push(
      {std::chrono::system_clock::now(), lis_->name, client_ip_, status, reason});
  release_upstream(st, false);
  st.connecting = false;
  st.deadline = st.total_deadline = Clock::time_point::max();
  ls_->local[static_cast<std::size_t>(metrics::reason_for(status, reason))].add();
  if (st.resp_submitted) {
    // Part of the answer is out: only a reset is honest.
    nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  st.local = true;
  st.uin.release();
  st.resp_fwd = 0;
  st.body.clear();
  // The request body still arriving is dropped; what is buffered is acknowledged now.
  if (st.body_unacked) nghttp2_session_consume(ng_, st.id, st.body_unacked);
  st.body_unacked = 0;
  const auto custom = lis_->error_bodies.find(status);
  if (custom != lis_->error_bodies.end()) {
    st.local_body = custom->second;
  } else {
    st.local_body = std::to_string(status) + " " + std::string(status_text(status)) + "\n";
  }
  const std::string length = std::to_string(st.local_body.size());
  if (st.method == http1::Method::kHead) st.local_body.clear();
  http2::to_client_nva(status, {{"content-type", "text/plain"}, {"content-length", length}},
                       nullptr, {}, st.hdr_store, nva_, hsts());
  submit(st, status, nva_, !st.local_body.empty());
}

// Sends the response HEADERS (and arranges the DATA). `nva` must stay valid until nghttp2 has
// serialized the frame: it copies the header block on submit, so locals are fine.
void H2Session::submit(Stream& st, int status, const std::vector<nghttp2_nv>& nva, bool body) {
  st.status = status;
  st.resp_submitted = true;
  ls_->responses[metrics::status_class(status)].add();
  if (st.log) st.log->status = status;
  nghttp2_data_provider prd{};
  prd.source.ptr = &st;
  prd.read_callback = &H2Session::read_body;
  if (st.local && !body) st.resp_done = true;
  const int rv = nghttp2_submit_response(ng_, st.id, nva.data(), nva.size(), body ? &prd : nullptr);
  if (rv != 0) {
    LOG_INFO("{}: HTTP/2 submit_response failed: {}", lis_->name, nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
  }
  if (st.local) st.resp_done = true;
}

void H2Session::log_end(Stream& st) {
  if (!st.log || !st.log->active) return;
  st.log->active = false;
  if (st.status == 0) st.log->status = 499;  // the client reset the stream before an answer
  std::string& line = wc_.log_line;
  line.clear();
  format_access_line(line, *st.log, lis_->access_log_format);
  lis_->access_log->write(wc_.worker.index(), line);
}

// ---------------------------------------------------------------------------------------------
// The server side of a stream

// Picks a server for this attempt and takes one of its slots (Server::active, bounded by
// max_connections); null when no usable server has room. As HttpSession::acquire_server.
const balance::Server* H2Session::acquire_server(Stream& st) {
  const Backend& backend = *st.backend;
  const balance::Server* s = nullptr;
  if (st.attempts == 1 && st.sticky && balance::usable(*st.sticky) &&
      balance::try_acquire(*st.sticky)) {
    s = st.sticky;
  } else {
    balance::PickContext ctx{static_cast<unsigned>(st.attempts - 1), st.server, {}, st.hash};
    s = backend.balancer->pick(ctx);
    if (s != nullptr && !balance::try_acquire(*s)) {
      ctx.avoid_also = s;
      s = backend.balancer->pick(ctx);
      if (s != nullptr && !balance::try_acquire(*s)) s = nullptr;
    }
    if (s == nullptr && st.attempts > 1 && st.retry_same && balance::try_acquire(*st.server)) {
      s = st.server;
    }
  }
  return s;
}

void H2Session::connect_upstream(const StreamPtr& sp) {
  Stream& st = *sp;
  ++st.attempts;
  const balance::Server* s = acquire_server(st);
  if (s == nullptr) {
    const bool full =
        std::any_of(st.backend->servers.begin(), st.backend->servers.end(),
                    [](const auto& sv) { return balance::usable(*sv) && !balance::has_room(*sv); });
    if (full && st.attempts == 1) return enqueue(sp);
    if (st.attempts > 1) return respond_error(st, st.retry_status, st.retry_reason);
    return respond_error(st, 503, "no server available");
  }
  connect_to(sp, s);
}

// Every usable server is at its max_connections: the stream waits for a slot, in arrival order
// on this connection, until queue.timeout (503). The bound is the backend's, shared with
// HTTP/1.1 requests through Backend::queued; slots are looked for by a short poll while any
// stream of the connection waits (HttpSession's worker queue holds HTTP/1.1 sessions only).
void H2Session::enqueue(const StreamPtr& sp) {
  Stream& st = *sp;
  const Backend& b = *st.backend;
  --st.attempts;
  if (b.queue_size == 0) return respond_error(st, 503, "every server is at max_connections");
  if (b.queued.fetch_add(1, std::memory_order_relaxed) >= b.queue_size) {
    b.queued.fetch_sub(1, std::memory_order_relaxed);
    return respond_error(st, 503, "queue full");
  }
  st.queued = true;
  b.stats->slots[wc_.worker.index()].queued.add();
  st.deadline = std::min(Clock::now() + b.queue_timeout, st.total_deadline);
  queue_.push_back(sp);
  arm_queue_poll();
}

void H2Session::leave_queue(Stream& st) {
  if (!st.queued) return;
  st.queued = false;
  st.backend->queued.fetch_sub(1, std::memory_order_relaxed);
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const StreamPtr& q) { return q.get() == &st; }),
               queue_.end());
}

void H2Session::arm_queue_poll() {
  if (queue_armed_ || queue_.empty() || closed_) return;
  queue_armed_ = true;
  queue_timer_.expires_after(std::chrono::milliseconds(2));
  queue_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    self->queue_armed_ = false;
    if (ec || self->closed_) return;
    // Oldest first; a backend whose oldest waiter found no slot has none for later ones.
    const Backend* full = nullptr;
    const std::vector<StreamPtr> waiting = self->queue_;
    for (const StreamPtr& sp : waiting) {
      if (!sp->queued || sp->backend == full) continue;
      ++sp->attempts;
      const balance::Server* s = self->acquire_server(*sp);
      if (s == nullptr) {
        --sp->attempts;
        full = sp->backend;
        continue;
      }
      self->leave_queue(*sp);
      self->connect_to(sp, s);
    }
    self->flush();
    self->arm_queue_poll();
  });
}

void H2Session::connect_to(const StreamPtr& sp, const balance::Server* s) {
  Stream& st = *sp;
  const Backend& backend = *st.backend;
  st.server = s;
  st.active_on = s;
  st.bs = &backend.stats->slots[wc_.worker.index()];
  st.bs->requests.add();
  st.ss = &snap_->server_stats[s->id]->slots[wc_.worker.index()];
  if (st.log) {
    st.log->backend = backend.name;
    st.log->server = s->name;
  }
  if (backend.h2) return start_h2_upstream(sp);
  st.up = st.retry_same ? nullptr : wc_.pool.take(s->id, backend.tls ? backend.tls->id() : 0);
  st.retry_same = false;
  st.head_sent = 0;
  if (st.up) {
    st.reused = true;
    st.sent_at = Clock::now();
    st.deadline = Clock::now() + backend.response_timeout;
    st.deadline = std::min(st.deadline, st.total_deadline);
    pump_up_write(sp);
    if (!st.closed && st.up) pump_up_read(sp);
    return;
  }
  st.reused = false;
  st.up = std::make_shared<UpstreamConn>(wc_.worker.io());
  st.up->server_id = s->id;
  st.connecting = true;
  st.deadline = std::min(Clock::now() + backend.connect_timeout, st.total_deadline);
  st.up->sock.async_connect(
      s->endpoint, [self = shared_from_this(), sp, conn = st.up](const std::error_code& ec) {
        if (self->closed_ || sp->closed || sp->up != conn || !sp->connecting) return;
        if (ec == asio::error::operation_aborted) return;
        self->on_connected(sp, ec);
        self->flush();
      });
}

void H2Session::on_connected(const StreamPtr& sp, const std::error_code& ec) {
  Stream& st = *sp;
  st.connecting = false;
  if (ec) {
    balance::record_failure(*st.server);
    st.ss->connect_failures.add();
    LOG_INFO("{}: connect to {}/{} failed: {}", lis_->name, st.server->backend, st.server->name,
             ec.message());
    return retry_or_fail(sp, "upstream connect failed", 502);
  }
  std::error_code ignored;
  st.up->sock.non_blocking(true, ignored);
  st.up->sock.set_option(tcp::no_delay(true), ignored);
  if (st.backend->tls) {
    const Backend& b = *st.backend;
    st.up->tls = std::make_unique<tls::TlsConn>(b.tls, st.up->sock.native_handle(),
                                                b.tls_host(st.server->id), &wc_.pool.sessions,
                                                st.server->id);
    st.up->tls_id = b.tls->id();
    st.connecting = true;
    st.deadline = std::min(Clock::now() + b.connect_timeout, st.total_deadline);
    return up_handshake(sp);
  }
  st.sent_at = Clock::now();
  st.deadline = std::min(Clock::now() + st.backend->response_timeout, st.total_deadline);
  pump_up_write(sp);
  if (!st.closed && st.up) pump_up_read(sp);
}

void H2Session::up_handshake(const StreamPtr& sp) {
  Stream& st = *sp;
  tcp::socket::wait_type wait = tcp::socket::wait_read;
  switch (st.up->tls->handshake()) {
    case tls::TlsConn::Result::kOk:
      st.connecting = false;
      st.sent_at = Clock::now();
      st.deadline = std::min(Clock::now() + st.backend->response_timeout, st.total_deadline);
      pump_up_write(sp);
      if (!st.closed && st.up) pump_up_read(sp);
      return;
    case tls::TlsConn::Result::kWantRead:
      break;
    case tls::TlsConn::Result::kWantWrite:
      wait = tcp::socket::wait_write;
      break;
    case tls::TlsConn::Result::kEof:
    case tls::TlsConn::Result::kError: {
      // As a refused connect: the next server, a passive-health failure, a clear log.
      balance::record_failure(*st.server);
      st.ss->connect_failures.add();
      wc_.pool.sessions.drop(st.server->id);
      LOG_WARN("{}: TLS handshake with {}/{} ({}) failed: {}", lis_->name, st.server->backend,
               st.server->name, st.server->endpoint.address().to_string(),
               tls::handshake_failure(*st.up->tls));
      return retry_or_fail(sp, "upstream TLS handshake failed", 502);
    }
  }
  st.up->sock.async_wait(wait,
                         [self = shared_from_this(), sp, conn = st.up](const std::error_code& ec) {
                           if (self->closed_ || sp->closed || sp->up != conn || !sp->connecting)
                             return;
                           if (ec == asio::error::operation_aborted) return;
                           self->up_handshake(sp);
                           self->flush();
                         });
}

void H2Session::retry_or_fail(const StreamPtr& sp, const char* reason, int status) {
  Stream& st = *sp;
  const bool stale = st.reused;
  st.connecting = false;
  release_upstream(st, false);
  const std::size_t limit = std::min<std::size_t>(3, st.backend->servers.size() + 1);
  if (!st.req_body_sent && !st.resp_submitted && static_cast<std::size_t>(st.attempts) < limit) {
    if (st.bs) st.bs->retries.add();
    st.retry_same = stale;
    st.retry_status = status;
    st.retry_reason = reason;
    return connect_upstream(sp);
  }
  respond_error(st, status, reason);
}

void H2Session::release_upstream(Stream& st, bool reusable) {
  if (st.active_on) {
    balance::release(*st.active_on);
    st.active_on = nullptr;
  }
  if (st.h2up) {
    st.h2up->cancel(st.up_id);
    st.h2up.reset();
    st.up_id = -1;
  }
  if (!st.up) return;
  auto conn = std::move(st.up);
  st.up.reset();
  st.connecting = false;
  if (reusable && !(conn->tls && conn->tls->has_buffered())) {
    wc_.pool.put(std::move(conn), st.backend->max_idle, st.backend->idle_timeout);
  } else {
    std::error_code ec;
    conn->sock.close(ec);
  }
}

void H2Session::wait_up(const StreamPtr& sp, bool write) {
  UpstreamConn& c = *sp->up;
  bool& flag = write ? c.write_wait : c.read_wait;
  if (flag) return;
  flag = true;
  if (!write && c.tls && c.tls->has_buffered()) {
    // Decrypted bytes wait inside OpenSSL: the socket may never turn readable for them.
    asio::post(wc_.worker.io(), [self = shared_from_this(), sp, conn = sp->up] {
      conn->read_wait = false;
      if (self->closed_ || sp->closed || sp->up != conn) return;
      self->pump_up_read(sp);
      self->schedule_flush();
    });
    return;
  }
  // Over TLS a read may need the socket writable, a write readable.
  const bool want_write = write ? !c.tls_write_wants_read : c.tls_read_wants_write;
  c.sock.async_wait(
      want_write ? tcp::socket::wait_write : tcp::socket::wait_read,
      [self = shared_from_this(), sp, conn = sp->up, write](const std::error_code& ec) {
        (write ? conn->write_wait : conn->read_wait) = false;
        if (self->closed_ || sp->closed || sp->up != conn) return;
        if (ec == asio::error::operation_aborted) return;
        if (write) {
          self->pump_up_write(sp);
        } else {
          self->pump_up_read(sp);
        }
        // Responses of several streams that are ready in the same turn leave in one write.
        self->schedule_flush();
      });
}

}  // namespace fulcrum::l7
