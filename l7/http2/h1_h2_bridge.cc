#include "l7/http2/h1_h2_bridge.h"

#include <sys/uio.h>

#include <algorithm>
#include <asio/post.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "l7/forward.h"
#include "l7/http_session.h"

namespace fulcrum::l7 {

using Clock = std::chrono::steady_clock;

namespace {
constexpr int kBudget = 64;

// RFC 9110 §10.1.4: "TE: trailers" says the client takes trailers (gRPC needs them).
bool accepts_trailers(std::string_view te) {
  while (!te.empty()) {
    const std::size_t comma = te.find(',');
    std::string_view tok = te.substr(0, comma);
    tok = tok.substr(0, tok.find(';'));
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    if (http1::iequals(tok, "trailers")) return true;
    if (comma == std::string_view::npos) break;
    te.remove_prefix(comma + 1);
  }
  return false;
}
}  // namespace

H1H2Bridge::~H1H2Bridge() {
  if (conn_) conn_->cancel(id_);
}

void H1H2Bridge::prepare(const http1::RequestHead& h) {
  te_trailers_ = false;
  for (std::size_t i = 0; i < h.header_count; ++i) {
    if (http1::iequals(h.headers[i].name, "te") && accepts_trailers(h.headers[i].value)) {
      te_trailers_ = true;
    }
  }
}

void H1H2Bridge::start(const balance::Server& server) {
  HttpSession& s = s_;
  const Backend& backend = *s.backend_;
  s.reused_ = false;
  s.retry_same_ = false;
  if (!http2::to_upstream_nva(s.uout_.view(), te_trailers_, s.wc_.req_scratch, store_, nva_,
                              backend.tls != nullptr)) {
    return s.send_error(502, "request head not convertible to HTTP/2");
  }
  out_.clear();
  out_off_ = 0;
  pieces_.clear();
  trailers_.clear();
  error_ = nullptr;
  chunked_ = no_body_ = ended_ = false;
  active_ = true;
  keep_ = s.shared_from_this();
  H2UpstreamPool& pool = h2_upstream_pool(s.wc_.worker.io(), &s.wc_.draining);
  conn_ = pool.get(server.id, server.endpoint, s.ss_, backend.connect_timeout, backend.idle_timeout,
                   {backend.tls, backend.tls_host(server.id), &s.wc_.pool.sessions});
  // A connect wait until the stream is out (on_up_sent: at once on a connection that is up).
  s.phase_ = HttpSession::Phase::kConnect;
  s.set_deadline(backend.connect_timeout);
  const bool body = !s.req_done_ || s.req_fwd_ > 0;
  id_ = conn_->submit(nva_, body, this);
  store_.clear();
  if (id_ < 0) {
    conn_.reset();
    return fail("HTTP/2 server connection refused a stream", true);
  }
}

void H1H2Bridge::release() {
  if (!active_) return;
  active_ = false;
  if (conn_) conn_->cancel(id_);
  conn_.reset();
  id_ = -1;
  out_.clear();
  out_.shrink_to_fit();
  out_off_ = 0;
  pieces_.clear();
  trailers_.clear();
  error_ = nullptr;
  // The last reference may be this one while the session is inside a member function: it
  // goes from the event loop instead.
  if (keep_) asio::post(s_.wc_.worker.io(), [k = std::move(keep_)] {});
}

void H1H2Bridge::post_pump() {
  if (posted_) return;
  posted_ = true;
  asio::post(s_.wc_.worker.io(), [self = s_.shared_from_this(), this] {
    posted_ = false;
    if (self->phase_ != HttpSession::Phase::kClosed) pump();
  });
}

void H1H2Bridge::fail(const char* reason, bool retryable) {
  error_ = reason;
  retryable_ = retryable;
  post_pump();
}

// ---------------------------------------------------------------------------------------------
// The request body: de-chunked in place, pulled by nghttp2 as the server's window allows.

bool H1H2Bridge::dechunk_request() {
  HttpSession& s = s_;
  char* base = const_cast<char*>(s.cin_.data());
  std::size_t in = s.req_fwd_;   // next byte to decode
  std::size_t out = s.req_fwd_;  // end of the payload kept so far
  const std::size_t end = s.cin_.size();
  while (in < end && !s.req_done_) {
    const std::uint64_t run = s.req_chunked_.data_remaining();
    const std::size_t n =
        run > 0 ? static_cast<std::size_t>(std::min<std::uint64_t>(run, end - in)) : 1;
    const auto step = s.req_chunked_.feed({base + in, n});
    if (step.status == http1::ParseStatus::kError) {
      s.send_error(400, step.reason);
      return false;
    }
    if (step.data_bytes > 0) {
      std::memmove(base + out, base + in, step.data_bytes);
      out += step.data_bytes;
      s.req_body_seen_ += step.data_bytes;
    }
    in += step.consumed;
    s.req_done_ = step.status == http1::ParseStatus::kComplete;
  }
  // A pipelined request after the body moves down behind the payload.
  if (in < end) std::memmove(base + out, base + in, end - in);
  s.cin_.truncate(out + (end - in));
  s.req_fwd_ = static_cast<std::uint32_t>(out);
  return true;
}

std::size_t H1H2Bridge::up_body(std::uint8_t* buf, std::size_t len, bool& eof) {
  HttpSession& s = s_;
  const std::size_t n = std::min<std::size_t>(len, s.req_fwd_);
  if (n > 0) {
    std::memcpy(buf, s.cin_.data(), n);
    s.cin_.consume(n);
    s.req_fwd_ -= static_cast<std::uint32_t>(n);
    s.req_body_sent_ = true;
    s.set_deadline(s.backend_->response_timeout);
    if (!s.req_done_) post_pump();  // room in the client buffer: read on
  }
  eof = s.req_done_ && s.req_fwd_ == 0;
  return n;
}

void H1H2Bridge::on_up_sent() {
  HttpSession& s = s_;
  if (!active_) return;
  s.phase_ = HttpSession::Phase::kExchange;
  s.sent_at_ = Clock::now();
  s.set_deadline(s.backend_->response_timeout);
  post_pump();
}

// ---------------------------------------------------------------------------------------------
// The response

void H1H2Bridge::on_up_interim(int status, H2Fields& fields) {
  HttpSession& s = s_;
  // As on the HTTP/1.1 path: 100 Continue and 103 Early Hints reach HTTP/1.1 clients only.
  if (error_ || status < 100 || s.client_minor_ != 1) return;
  http1::ResponseHead& h = s.wc_.resp_scratch;
  h.status = status;
  h.reason = status_text(status);
  h.version_minor = 1;
  h.header_count = 0;
  h.body = http1::BodyKind::kNone;
  h.content_length = 0;
  h.keep_alive = true;
  h.connection_upgrade = false;
  for (const auto& [name, value] : fields) {
    if (h.header_count == http1::kMaxHeaders) break;
    h.headers[h.header_count++] = {name, value};
  }
  s.cout_.reserve(s.wc_.worker.blocks());
  const std::size_t before = s.cout_.size();
  if (!write_response_head(s.cout_, h, true, 1)) {
    s.cout_.truncate(before);
    return fail("upstream interim response too large", false);
  }
  post_pump();
}

// The final head, as HttpSession::on_response_head does for HTTP/1.1 servers.
bool H1H2Bridge::write_head(int status, H2Fields& fields, bool end) {
  HttpSession& s = s_;
  http1::ResponseHead& h = s.wc_.resp_scratch;
  h.status = status;
  h.reason = status_text(status);
  h.version_minor = 1;
  h.header_count = 0;
  h.content_length = 0;
  h.keep_alive = true;
  h.connection_upgrade = false;
  bool has_length = false;
  for (const auto& [name, value] : fields) {
    if (name != "content-length") continue;
    // nghttp2 has checked it against the DATA already; a second one must agree.
    std::uint64_t n = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
    if (r.ec != std::errc() || r.ptr != value.data() + value.size()) return false;
    if (has_length && n != h.content_length) return false;
    has_length = true;
    h.content_length = n;
  }
  no_body_ = s.method_ == http1::Method::kHead || status == 204 || status == 304;
  // A client that takes trailers (TE: trailers, gRPC-Web style) gets the body chunked even
  // when its length is known: trailers have no place in a body framed by Content-Length.
  if (has_length && !no_body_ && !end && te_trailers_ && s.client_minor_ == 1) has_length = false;
  for (const auto& [name, value] : fields) {
    if (h.header_count + 1 >= http1::kMaxHeaders) return false;  // room for a framing field
    if (!has_length && !no_body_ && name == "content-length") continue;
    h.headers[h.header_count++] = {name, value};
  }
  chunked_ = false;
  if (no_body_) {
    h.body = http1::BodyKind::kNone;  // a Content-Length here is passed on as it is
  } else if (has_length) {
    h.body = http1::BodyKind::kContentLength;
  } else if (end) {
    h.body = http1::BodyKind::kContentLength;  // known to be empty
    h.headers[h.header_count++] = {"content-length", "0"};
  } else if (s.client_minor_ == 1) {
    h.body = http1::BodyKind::kChunked;
    h.headers[h.header_count++] = {"transfer-encoding", "chunked"};
    chunked_ = true;
  } else {
    // An HTTP/1.0 client learns where the body ends from the close.
    h.body = http1::BodyKind::kUntilClose;
    s.close_after_ = true;
  }
  s.resp_body_ = h.body;
  s.resp_remaining_ = h.content_length;
  // The rest of the request body would be left unread on the client connection.
  if (!s.req_done_) s.close_after_ = true;
  const CompiledHeaderOps* ops =
      s.route_ && !s.route_->response_ops.empty() ? &s.route_->response_ops : nullptr;
  if (s.backend_->sticky_table) s.learn_sticky(h);
  const std::string_view set_cookie =
      s.sticky_ != s.server_ ? std::string_view(s.server_->sticky_set_cookie) : std::string_view{};
  const std::string_view hsts = s.tls_ ? std::string_view(s.lis_->hsts_field) : std::string_view{};
  s.cout_.reserve(s.wc_.worker.blocks());
  const std::size_t before = s.cout_.size();
  if (!write_response_head(s.cout_, h, !s.close_after_, s.client_minor_, ops, set_cookie, hsts)) {
    s.cout_.truncate(before);
    return false;
  }
  return true;
}

void H1H2Bridge::on_up_head(int status, H2Fields& fields, bool end) {
  HttpSession& s = s_;
  if (error_) return;
  if (!write_head(status, fields, end)) return fail("upstream response head too large", false);
  s.resp_head_done_ = true;
  s.resp_started_ = true;
  if (s.log_) s.log_->status = status;
  s.count_response(status);
  s.ss_->responses[metrics::status_class(status)].add();
  if (status >= 500) {
    balance::record_5xx(*s.server_);
  } else {
    balance::record_success(*s.server_);
  }
  const auto ttfb = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s.sent_at_);
  balance::Server::record_latency(*s.server_, static_cast<std::uint64_t>(ttfb.count()));
  s.bs_->upstream.observe(ttfb);
  // The head no longer needs keeping for a retry.
  s.uout_.release();
  s.uout_sent_ = 0;
  s.set_deadline(s.backend_->response_timeout);
  post_pump();
}

void H1H2Bridge::on_up_data(const std::uint8_t* data, std::size_t len) {
  if (error_ || len == 0) return;
  if (!no_body_) {
    if (chunked_) {
      char size[24];
      const int n = std::snprintf(size, sizeof size, "%zx\r\n", len);
      out_.append(size, static_cast<std::size_t>(n));
    }
    out_.append(reinterpret_cast<const char*>(data), len);
    if (chunked_) out_.append("\r\n");
  }
  // Acknowledged once everything up to here reached the client.
  pieces_.push_back({out_.size(), len});
  s_.set_deadline(s_.backend_->response_timeout);
  post_pump();
}

void H1H2Bridge::on_up_trailers(H2Fields& fields) {
  if (error_) return;
  // Trailers travel only in a chunked body; a body framed by Content-Length has no room.
  if (chunked_) trailers_ = std::move(fields);
}

void H1H2Bridge::on_up_end() {
  if (error_) return;
  ended_ = true;
  // The stream is over: nothing is left to cancel or acknowledge (the connection gives the
  // stream's unread bytes back to its window itself).
  conn_.reset();
  id_ = -1;
  pieces_.clear();
  if (chunked_) {
    out_.append("0\r\n");
    for (const auto& [name, value] : trailers_) {
      out_.append(name);
      out_.append(": ");
      out_.append(value);
      out_.append("\r\n");
    }
    out_.append("\r\n");
    trailers_.clear();
  }
  post_pump();
}

void H1H2Bridge::on_up_error(const char* reason, bool before_head) {
  conn_.reset();
  id_ = -1;
  if (error_ || ended_) return;
  // A refused or failed connect is a passive-health failure, as on the HTTP/1.1 path.
  if (before_head && s_.server_ &&
      (std::string_view(reason).starts_with("connect") ||
       std::string_view(reason).starts_with("upstream TLS"))) {
    balance::record_failure(*s_.server_);
  }
  fail(reason, before_head);
}

// ---------------------------------------------------------------------------------------------
// Pumping

void H1H2Bridge::pump() {
  HttpSession& s = s_;
  if (!active_ || s.phase_ == HttpSession::Phase::kClosed) return;
  if (error_ != nullptr) {
    const char* why = error_;
    error_ = nullptr;
    char ip[46];
    LOG_INFO("{}: {} -> {}/{} over HTTP/2: {}", s.lis_->name, s.client_ip(ip), s.server_->backend,
             s.server_->name, why);
    // After the head the client's framing is in doubt: only closing is honest.
    if (s.resp_started_) return s.close();
    // Another server may answer while nothing of the request is gone.
    if (retryable_ && !s.req_body_sent_) return s.retry_or_fail(why, 502);
    return s.send_error(502, why);
  }
  pump_client_write();
  if (!active_ || s.phase_ == HttpSession::Phase::kClosed) return;
  pump_client_read();
}

void H1H2Bridge::pump_client_write() {
  HttpSession& s = s_;
  for (int budget = kBudget; budget > 0; --budget) {
    if (s.cout_.empty() && out_off_ == out_.size()) break;
    iovec iov[2];
    int n = 0;
    if (!s.cout_.empty()) iov[n++] = {const_cast<char*>(s.cout_.data()), s.cout_.size()};
    if (out_off_ < out_.size()) iov[n++] = {out_.data() + out_off_, out_.size() - out_off_};
    const ssize_t w = s.send_to(s.client_, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return s.wait_client_write();
      return s.close();  // the client is gone: close() cancels the stream
    }
    std::size_t done = static_cast<std::size_t>(w);
    if (done > 0) s.resp_sent_ = true;
    const std::size_t head_part = std::min(done, s.cout_.size());
    s.cout_.consume(head_part);
    done -= head_part;
    out_off_ += done;
    if (s.log_) s.log_->bytes += done;
    std::size_t taken = 0;
    std::size_t i = 0;
    while (i < pieces_.size() && pieces_[i].end <= out_off_) taken += pieces_[i++].payload;
    pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(i));
    if (taken > 0 && conn_) conn_->consume(id_, taken);
    if (done > 0) s.set_deadline(s.backend_->response_timeout);
  }
  s.cout_.release_if_empty();
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
    std::size_t taken = 0;
    for (const Piece& p : pieces_) taken += p.payload;
    pieces_.clear();
    if (taken > 0 && conn_) conn_->consume(id_, taken);
    if (ended_ && s.resp_head_done_) {
      s.resp_done_ = true;
      return s.finish_exchange();
    }
    return;
  }
  post_pump();  // budget spent with bytes left: other connections get a turn first
}

// The request body from the client while the stream is open, one buffer at a time.
void H1H2Bridge::pump_client_read() {
  HttpSession& s = s_;
  if (!conn_ || s.req_done_ || s.phase_ != HttpSession::Phase::kExchange) return;
  for (int budget = kBudget; budget > 0; --budget) {
    const HttpSession::Io r = s.read_into(s.client_, s.cin_, BlockPool::kBlockSize);
    if (r == HttpSession::Io::kFull) break;  // nghttp2 takes some first (up_body posts a pump)
    if (r == HttpSession::Io::kWouldBlock) {
      s.wait_client_read();
      break;
    }
    // The client gave up in the middle of its body.
    if (r != HttpSession::Io::kData) return s.close();
    if (!s.account_request_body()) return;
    if (s.req_done_) break;
  }
  if (s.req_fwd_ > 0 || s.req_done_) conn_->resume(id_);
}

}  // namespace fulcrum::l7
