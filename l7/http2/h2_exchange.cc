// l7/http2/h2_exchange.cc — the server side of a stream once it has a server: the HTTP/1.1
// exchange on a pooled connection (request out, response head and body in), and the glue to a
// pooled HTTP/2 server connection for `protocol: h2` backends.
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <asio/post.hpp>
#include <cstring>

#include "core/log.h"
#include "l7/http2/h2_session_impl.h"
#include "l7/request_keys.h"

namespace fulcrum::l7 {

using asio::ip::tcp;
using namespace h2detail;  // NOLINT

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 servers

// Request head and body to the server; written body bytes reopen the client's window.
void H2Session::pump_up_write(const StreamPtr& sp) {
  Stream& st = *sp;
  for (int budget = kPumpBudget; budget > 0 && st.up && !st.connecting; --budget) {
    iovec iov[2];
    int n = 0;
    if (st.head_sent < st.head.size()) {
      iov[n++] = {st.head.data() + st.head_sent, st.head.size() - st.head_sent};
    }
    if (st.body_sent < st.body.size()) {
      iov[n++] = {st.body.data() + st.body_sent, st.body.size() - st.body_sent};
    }
    if (n == 0) return;
    ssize_t w;
    if (st.up->tls) {
      w = upstream_tls_send(*st.up, iov, n);
    } else {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(n);
      w = ::sendmsg(st.up->sock.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_up(sp, true);
      if (st.reused && !st.head_done && st.uin.empty() && !st.req_body_sent) {
        return retry_or_fail(sp, "upstream write failed", 502);
      }
      return respond_error(st, 502, "upstream write failed");
    }
    st.ss->bytes_out.add(static_cast<std::uint64_t>(w));
    std::size_t done = static_cast<std::size_t>(w);
    const std::size_t head_part = std::min(done, st.head.size() - st.head_sent);
    st.head_sent += head_part;
    done -= head_part;
    if (done > 0) {
      st.body_sent += done;
      st.req_body_sent = true;
      st.deadline = std::min(Clock::now() + st.backend->response_timeout, st.total_deadline);
    }
    if (st.body_sent == st.body.size() && !st.body.empty()) {
      st.body.clear();
      st.body_sent = 0;
      if (st.body_unacked) {
        nghttp2_session_consume(ng_, st.id, st.body_unacked);
        st.body_unacked = 0;
      }
    }
  }
  if (st.up && !st.connecting && (st.head_sent < st.head.size() || !st.body.empty())) {
    asio::post(wc_.worker.io(), [self = shared_from_this(), sp] {
      if (!self->closed_ && !sp->closed && sp->up) {
        self->pump_up_write(sp);
        self->schedule_flush();
      }
    });
  }
}

void H2Session::pump_up_read(const StreamPtr& sp) {
  Stream& st = *sp;
  for (int budget = kPumpBudget; budget > 0 && st.up && !st.connecting && !st.closed; --budget) {
    if (st.resp_done) return;
    st.uin.reserve(wc_.worker.blocks());
    if (st.uin.tail_room() == 0) st.uin.compact();
    if (st.uin.tail_room() == 0) {
      if (!st.head_done) return respond_error(st, 502, "upstream response head too large");
      st.up_paused = true;  // the client must take some first (flush() resumes)
      return;
    }
    const ssize_t n = st.up->tls ? upstream_tls_recv(*st.up, st.uin.tail(), st.uin.tail_room())
                                 : ::recv(st.up->sock.native_handle(), st.uin.tail(),
                                          st.uin.tail_room(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      st.uin.release_if_empty();
      return wait_up(sp, false);
    }
    if (n == 0 && st.head_done && st.resp_body == http1::BodyKind::kUntilClose) {
      st.resp_done = true;
      release_upstream(st, false);
      nghttp2_session_resume_data(ng_, st.id);
      return;
    }
    if (n <= 0) {
      if (!st.head_done && st.uin.empty() &&
          (st.reused || st.method == http1::Method::kGet || st.method == http1::Method::kHead)) {
        if (!st.reused) balance::record_failure(*st.server);
        return retry_or_fail(sp, "upstream closed before responding", 502);
      }
      if (!st.head_done)
        return respond_error(st, 502, "upstream closed before a complete response");
      release_upstream(st, false);
      nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, st.id, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    st.uin.produce(static_cast<std::size_t>(n));
    st.ss->bytes_in.add(static_cast<std::uint64_t>(n));
    st.deadline = std::min(Clock::now() + st.backend->response_timeout, st.total_deadline);
    if (!st.head_done) {
      if (!on_response_head(sp)) return;
    } else if (!account_response_body(st)) {
      return;
    }
    if (st.resp_fwd > 0 || st.resp_done) nghttp2_session_resume_data(ng_, st.id);
    if (st.resp_done) {
      // The body is all in uin: the server connection can serve someone else already.
      const bool reusable = st.keep_alive && st.body_end_queued && st.body.empty() &&
                            !st.up_extra && st.resp_body != http1::BodyKind::kUntilClose;
      release_upstream(st, reusable);
      st.deadline = st.total_deadline;
      return;
    }
  }
  if (st.up && !st.connecting && !st.closed && !st.up_paused) {
    asio::post(wc_.worker.io(), [self = shared_from_this(), sp] {
      if (!self->closed_ && !sp->closed && sp->up) {
        self->pump_up_read(sp);
        self->schedule_flush();
      }
    });
  }
}

bool H2Session::on_response_head(const StreamPtr& sp) {
  Stream& st = *sp;
  for (;;) {
    http1::ResponseHead& h = wc_.resp_scratch;
    http1::Limits limits;
    limits.max_head = BlockPool::kBlockSize;
    const auto r = http1::parse_response_head(st.uin.view(), h, limits, st.method);
    if (r.status == http1::ParseStatus::kIncomplete) {
      if (st.uin.size() >= BlockPool::kBlockSize) {
        respond_error(st, 502, "upstream response head too large");
        return false;
      }
      return true;  // read on
    }
    if (r.status == http1::ParseStatus::kError) {
      respond_error(st, 502, r.reason);
      return false;
    }
    if (h.status < 200) {
      if (h.status == 101) {
        respond_error(st, 502, "upstream switched protocols unasked");
        return false;
      }
      st.uin.consume(h.head_size);  // interim responses are not passed on
      if (st.uin.empty()) return true;
      continue;
    }
    st.head_done = true;
    st.ss->responses[metrics::status_class(h.status)].add();
    if (h.status >= 500) {
      balance::record_5xx(*st.server);
    } else {
      balance::record_success(*st.server);
    }
    const auto ttfb =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - st.sent_at);
    balance::Server::record_latency(*st.server, static_cast<std::uint64_t>(ttfb.count()));
    st.bs->upstream.observe(ttfb);
    st.resp_body = h.body;
    st.resp_remaining = h.content_length;
    st.keep_alive = h.keep_alive;
    if (st.head_sent < st.head.size()) st.up_extra = true;
    if (st.backend->sticky_table)
      learn_sticky(*st.backend, h, *st.server, st.sticky, st.sticky_key);
    const CompiledHeaderOps* ops =
        st.route && !st.route->response_ops.empty() ? &st.route->response_ops : nullptr;
    const std::string_view set_cookie = st.sticky != st.server
                                            ? std::string_view(st.server->sticky_set_cookie)
                                            : std::string_view{};
    http2::to_response_nva(h, ops, set_cookie, st.hdr_store, nva_, hsts());
    st.uin.consume(h.head_size);
    const bool body = st.resp_body != http1::BodyKind::kNone;
    submit(st, h.status, nva_, body);
    st.hdr_store.clear();
    st.hdr_store.shrink_to_fit();
    if (!body) {
      st.resp_done = true;
      if (!st.uin.empty()) st.up_extra = true;
      return true;
    }
    return account_response_body(st);
  }
}

// Makes the bytes past resp_fwd payload: counted against the length, or de-chunked in place
// (HTTP/2 DATA carries payload only; trailers of an HTTP/1.1 server are dropped).
bool H2Session::account_response_body(Stream& st) {
  const std::size_t avail = st.uin.size() - st.resp_fwd;
  switch (st.resp_body) {
    case http1::BodyKind::kNone:
      st.resp_done = true;
      break;
    case http1::BodyKind::kUntilClose:
      st.resp_fwd += avail;
      break;
    case http1::BodyKind::kContentLength: {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(avail, st.resp_remaining));
      st.resp_fwd += take;
      st.resp_remaining -= take;
      st.resp_done = st.resp_remaining == 0;
      break;
    }
    case http1::BodyKind::kChunked: {
      char* base = const_cast<char*>(st.uin.data());
      std::size_t in = st.resp_fwd, out = st.resp_fwd;
      const std::size_t end = st.uin.size();
      while (in < end && !st.resp_done) {
        const std::uint64_t run = st.chunked.data_remaining();
        const std::size_t n =
            run > 0 ? static_cast<std::size_t>(std::min<std::uint64_t>(run, end - in)) : 1;
        const auto step = st.chunked.feed({base + in, n});
        if (step.status == http1::ParseStatus::kError) {
          LOG_INFO("{}: bad chunked body from {}/{}: {}", lis_->name, st.server->backend,
                   st.server->name, step.reason);
          respond_error(st, 502, step.reason);
          return false;
        }
        if (step.data_bytes > 0) {
          std::memmove(base + out, base + in, step.data_bytes);
          out += step.data_bytes;
        }
        in += step.consumed;
        st.resp_done = step.status == http1::ParseStatus::kComplete;
      }
      if (st.resp_done && in < end) st.up_extra = true;
      st.uin.truncate(out);
      st.resp_fwd = out;
      return true;
    }
  }
  if (st.resp_done && st.resp_fwd < st.uin.size()) {
    st.up_extra = true;
    st.uin.truncate(st.resp_fwd);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// protocol: h2 backends: the stream goes out as a stream of a pooled HTTP/2 server connection.

void H2Session::start_h2_upstream(const StreamPtr& sp) {
  Stream& st = *sp;
  const Backend& backend = *st.backend;
  const balance::Server& s = *st.server;
  if (!http2::to_upstream_nva(st.head, st.te_trailers, wc_.req_scratch, st.hdr_store, nva_,
                              backend.tls != nullptr)) {
    return respond_error(st, 502, "request head not convertible to HTTP/2");
  }
  if (!st.binding) st.binding = std::make_unique<UpBinding>(this, &st);
  H2UpstreamPool& pool = h2_upstream_pool(wc_.worker.io(), &wc_.draining);
  st.h2up = pool.get(s.id, s.endpoint, st.ss, backend.connect_timeout, backend.idle_timeout,
                     {backend.tls, backend.tls_host(s.id), &wc_.pool.sessions});
  // Until the connection is up this is a connect wait; UpBinding::on_up_sent ends it (at once,
  // from submit(), on a connection that is up already).
  st.connecting = true;
  st.deadline = std::min(Clock::now() + backend.connect_timeout, st.total_deadline);
  st.up_id = st.h2up->submit(nva_, !st.body_end_queued || !st.body.empty(), st.binding.get());
  st.hdr_store.clear();
  if (st.up_id < 0) {
    st.h2up.reset();
    st.connecting = false;
    return respond_error(st, 502, "HTTP/2 server connection refused a stream");
  }
}

void H2Session::UpBinding::on_up_sent() {
  st->connecting = false;
  st->sent_at = Clock::now();
  st->deadline = std::min(Clock::now() + st->backend->response_timeout, st->total_deadline);
}

void H2Session::UpBinding::on_up_head(int status, H2Fields& fields, bool end) {
  Stream& t = *st;
  t.head_done = true;
  t.ss->responses[metrics::status_class(status)].add();
  if (status >= 500) {
    balance::record_5xx(*t.server);
  } else {
    balance::record_success(*t.server);
  }
  const auto ttfb = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t.sent_at);
  balance::Server::record_latency(*t.server, static_cast<std::uint64_t>(ttfb.count()));
  t.bs->upstream.observe(ttfb);
  const CompiledHeaderOps* ops =
      t.route && !t.route->response_ops.empty() ? &t.route->response_ops : nullptr;
  const std::string_view set_cookie =
      t.sticky != t.server ? std::string_view(t.server->sticky_set_cookie) : std::string_view{};
  http2::to_client_nva(status, fields, ops, set_cookie, t.hdr_store, s->nva_, s->hsts());
  s->submit(t, status, s->nva_, !end);
  t.hdr_store.clear();
  // Long-lived streams (gRPC) wait on the server for as long as it keeps them open.
  t.deadline = t.total_deadline;
  s->schedule_flush();
}

void H2Session::UpBinding::on_up_data(const std::uint8_t* data, std::size_t len) {
  Stream& t = *st;
  if (t.h2data_off == t.h2data.size()) {
    t.h2data.clear();
    t.h2data_off = 0;
  }
  t.h2data.append(reinterpret_cast<const char*>(data), len);
  t.resp_fwd += len;
  nghttp2_session_resume_data(s->ng_, t.id);
  s->schedule_flush();
}

void H2Session::UpBinding::on_up_trailers(H2Fields& fields) { st->trailers = std::move(fields); }

void H2Session::UpBinding::on_up_end() {
  Stream& t = *st;
  t.resp_done = true;
  // The server stream is over: its slot is free, nothing is left to cancel.
  t.h2up.reset();
  t.up_id = -1;
  if (t.active_on) {
    balance::release(*t.active_on);
    t.active_on = nullptr;
  }
  t.deadline = t.total_deadline;
  nghttp2_session_resume_data(s->ng_, t.id);
  s->schedule_flush();
}

void H2Session::UpBinding::on_up_error(const char* reason, bool before_head) {
  Stream& t = *st;
  t.h2up.reset();
  t.up_id = -1;
  t.connecting = false;
  H2Session* session = s;
  if (before_head && !t.resp_submitted) {
    if (t.server && std::string_view(reason).starts_with("connect")) {
      balance::record_failure(*t.server);
    }
    // Nothing of the request may be lost for another attempt: no body byte went out.
    const auto it = session->streams_.find(t.id);
    if (it != session->streams_.end() && !t.req_body_sent) {
      session->retry_or_fail(it->second, reason, 502);
    } else {
      session->respond_error(t, 502, reason);
    }
  } else {
    session->release_upstream(t, false);
    nghttp2_submit_rst_stream(session->ng_, NGHTTP2_FLAG_NONE, t.id, NGHTTP2_INTERNAL_ERROR);
  }
  session->schedule_flush();
}

std::size_t H2Session::UpBinding::up_body(std::uint8_t* buf, std::size_t len, bool& eof) {
  Stream& t = *st;
  const std::size_t n = std::min(len, t.body.size() - t.body_sent);
  if (n > 0) {
    std::memcpy(buf, t.body.data() + t.body_sent, n);
    t.body_sent += n;
    t.req_body_sent = true;
    // The server took them: the client may send as many again.
    nghttp2_session_consume(s->ng_, t.id, n);
    t.body_unacked -= std::min(n, t.body_unacked);
    if (t.body_sent == t.body.size()) {
      t.body.clear();
      t.body_sent = 0;
    }
    s->schedule_flush();
  }
  eof = t.body_end_queued && t.body.empty();
  return n;
}

}  // namespace fulcrum::l7
