// l7/http2/h2_session_impl.h — internal to l7/http2/: the HTTP/2 connection and its streams.
//
// h2_session.cc holds the connection side (client I/O, nghttp2 callbacks, timeouts and
// defences), h2_stream.cc the request side of each stream (routing, the HTTP/1.1 exchange with a
// server). Nothing outside l7/http2/ includes this; the face is h2_session.h.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "l7/http2/h2_headers.h"
#include "l7/http2/h2_session.h"
#include "l7/http2/h2_upstream.h"

namespace fulcrum::l7 {

namespace h2detail {

using Clock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(100);
// Bytes taken from nghttp2 before they are written: one socket write's worth.
constexpr std::size_t kOutChunk = 64 * 1024;
// Client frames that cost us work but carry no request: token buckets per connection. A burst
// of this many, then this many per second; beyond, GOAWAY ENHANCE_YOUR_CALM.
constexpr double kResetBurst = 200, kResetRate = 33;  // RST_STREAM (rapid reset, CVE-2023-44487)
constexpr double kControlBurst = 200, kControlRate = 50;  // SETTINGS and PING needing an ACK
constexpr int kPumpBudget = 64;

struct Bucket {
  double tokens;
  Clock::time_point at = Clock::now();
  // False when the bucket is empty (the event is over the limit).
  bool take(double burst, double rate) {
    const auto now = Clock::now();
    tokens = std::min(burst, tokens + std::chrono::duration<double>(now - at).count() * rate);
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

}  // namespace h2detail

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  H2Session(WorkerContext& wc, std::shared_ptr<const Snapshot> snap, const Listener* listener,
            asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer,
            std::unique_ptr<tls::TlsConn> tls);
  ~H2Session();
  void start(std::string_view already_read);

 private:
  struct Stream;
  using StreamPtr = std::shared_ptr<Stream>;
  enum class Io : std::uint8_t { kData, kWouldBlock, kEof, kError };

  // nghttp2 callbacks (user_data is the session).
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u);
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* u);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* u);
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u);
  ssize_t read_h2_body(Stream* st, std::uint8_t* buf, std::size_t length, std::uint32_t* flags);
  static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* src, void* u);

  // Client side.
  void on_readable();
  void feed(const char* data, std::size_t n);
  void flush();
  void wait_read();
  void wait_write();
  Io client_read(char* buf, std::size_t cap, std::size_t& got);
  void fail(nghttp2_error_code code, const char* why);
  void close();
  void linger();
  void tick();
  void after_reload();
  void arm_timer();

  // Streams.
  Stream* find(std::int32_t id);
  void start_request(const StreamPtr& st);
  void respond_local(Stream& st, std::string_view host, std::string_view path,
                     std::string_view query);
  void respond_error(Stream& st, int status, const char* reason);
  void submit(Stream& st, int status, const std::vector<nghttp2_nv>& nva, bool body);
  void log_end(Stream& st);

  // Upstream side of a stream.
  void connect_upstream(const StreamPtr& st);
  const balance::Server* acquire_server(Stream& st);
  void connect_to(const StreamPtr& st, const balance::Server* s);
  void enqueue(const StreamPtr& st);
  void leave_queue(Stream& st);
  void arm_queue_poll();
  void on_connected(const StreamPtr& st, const std::error_code& ec);
  // Backends with tls: the handshake after the TCP connect, still `connecting` (so the connect
  // timeout bounds it and a failure takes the failed-connect path).
  void up_handshake(const StreamPtr& st);
  void retry_or_fail(const StreamPtr& st, const char* reason, int status);
  void pump_up_write(const StreamPtr& st);
  void pump_up_read(const StreamPtr& st);
  bool on_response_head(const StreamPtr& st);
  bool account_response_body(Stream& st);
  void release_upstream(Stream& st, bool reusable);
  void wait_up(const StreamPtr& st, bool write);
  // protocol: h2 backends: the stream is multiplexed on a pooled HTTP/2 server connection.
  struct UpBinding;
  void start_h2_upstream(const StreamPtr& st);
  void schedule_flush();
  // The listener's Strict-Transport-Security line, for responses over TLS only.
  std::string_view hsts() const {
    return tls_ ? std::string_view(lis_->hsts_field) : std::string_view{};
  }

  WorkerContext& wc_;
  std::shared_ptr<const Snapshot> snap_;
  const Listener* lis_;
  asio::ip::tcp::socket sock_;
  // TLS after ALPN "h2" (null for h2c): handed over by HttpSession with the listener's context.
  std::unique_ptr<tls::TlsConn> tls_;
  asio::ip::address client_addr_;
  std::string client_ip_;
  metrics::ListenerSlot* ls_;
  nghttp2_session* ng_ = nullptr;
  std::map<std::int32_t, StreamPtr> streams_;
  std::string out_;  // frames from nghttp2 not yet written
  std::size_t out_sent_ = 0;
  asio::steady_timer timer_;
  // Streams waiting for a server slot (enqueue()), oldest first, and their poll.
  std::vector<StreamPtr> queue_;
  asio::steady_timer queue_timer_;
  bool queue_armed_ = false;
  std::uint64_t seen_generation_ = 0;  // of the worker's snapshot the last tick looked at
  h2detail::Clock::time_point idle_deadline_;
  h2detail::Bucket resets_{h2detail::kResetBurst};
  h2detail::Bucket control_{h2detail::kControlBurst};
  std::vector<nghttp2_nv> nva_;
  bool read_wait_ = false;
  bool write_wait_ = false;
  bool closed_ = false;
  bool trusted_ = false;
  bool draining_ = false;
  bool terminating_ = false;  // GOAWAY with an error queued: close once it is out
  bool in_flush_ = false;
  bool flush_posted_ = false;
  bool in_feed_ = false;  // inside nghttp2_session_mem_recv: no mem_send, no close
  bool lingering_ = false;
  h2detail::Clock::time_point linger_until_{};
};

// One request/response exchange. Owned by the session's map until nghttp2 closes the stream,
// and by the upstream socket handlers pending for it.
struct H2Session::Stream {
  std::int32_t id = 0;
  bool closed = false;  // nghttp2 closed the stream: pending handlers do nothing
  http2::H2Request req;
  bool header_overflow = false;
  bool req_end = false;  // END_STREAM received
  bool started = false;  // head processed (routed, or answered locally)
  bool local = false;    // answered by the proxy: request body bytes are dropped
  http1::Method method = http1::Method::kGet;
  http1::BodyKind req_body = http1::BodyKind::kNone;
  std::uint64_t req_body_seen = 0;

  // Upstream exchange.
  const Route* route = nullptr;
  const Backend* backend = nullptr;
  const balance::Server* server = nullptr;
  const balance::Server* active_on = nullptr;
  const balance::Server* sticky = nullptr;
  std::uint64_t hash = 0;
  std::uint64_t sticky_key = 0;
  metrics::BackendSlot* bs = nullptr;
  metrics::ServerSlot* ss = nullptr;
  std::shared_ptr<UpstreamConn> up;
  std::string head;  // rewritten request head (kept for a retry until a body byte left)
  std::size_t head_sent = 0;
  std::string body;  // request body bytes, framed for the server, not yet written
  std::size_t body_sent = 0;
  std::size_t body_unacked = 0;  // payload bytes in `body`: WINDOW_UPDATE once written
  bool body_end_queued = false;  // the final chunk (or the last byte) is in `body`
  bool req_body_sent = false;
  bool reused = false;
  bool retry_same = false;
  int attempts = 0;
  int retry_status = 502;
  const char* retry_reason = "";
  bool connecting = false;
  bool queued = false;  // waiting in the connection's queue for a server slot
  // When a reload removed this stream's backend (or route): reset at this time (max(): never).
  h2detail::Clock::time_point cut_at = h2detail::Clock::time_point::max();

  // Response.
  Buffer uin;  // server bytes; after the head, payload first (resp_fwd bytes)
  std::size_t resp_fwd = 0;
  bool head_done = false;
  bool resp_done = false;  // the whole body is in uin (or there was none)
  bool resp_submitted = false;
  bool up_paused = false;  // uin is full: reading the server waits for the client
  bool up_extra = false;
  bool keep_alive = false;
  http1::BodyKind resp_body = http1::BodyKind::kNone;
  std::uint64_t resp_remaining = 0;
  http1::ChunkedDecoder chunked;
  std::string local_body;  // proxy-generated body
  std::size_t local_sent = 0;
  std::string hdr_store;  // response header bytes nghttp2 reads until the HEADERS frame is out
  int status = 0;

  h2detail::Clock::time_point head_at{};
  h2detail::Clock::time_point sent_at{};
  h2detail::Clock::time_point deadline = h2detail::Clock::time_point::max();
  h2detail::Clock::time_point total_deadline = h2detail::Clock::time_point::max();
  h2detail::Clock::time_point stalled_since = h2detail::Clock::time_point::max();
  std::unique_ptr<AccessRecord> log;

  // protocol: h2 backends (h2_stream.cc). The request body in `body` is payload only then.
  std::unique_ptr<UpBinding> binding;
  std::shared_ptr<H2UpConn> h2up;
  std::int32_t up_id = -1;
  bool h2_upstream = false;
  bool te_trailers = false;  // the client sent "te: trailers" (gRPC): passed on
  std::string h2data;        // response payload from the server not yet sent to the client
  std::size_t h2data_off = 0;
  H2Fields trailers;
};

// A stream's side of its HTTP/2 server stream (protocol: h2 backends); h2_stream.cc.
struct H2Session::UpBinding final : H2UpstreamUser {
  UpBinding(H2Session* session, Stream* stream) : s(session), st(stream) {}
  void on_up_head(int status, H2Fields& fields, bool end) override;
  void on_up_data(const std::uint8_t* data, std::size_t len) override;
  void on_up_trailers(H2Fields& fields) override;
  void on_up_end() override;
  void on_up_error(const char* reason, bool before_head) override;
  std::size_t up_body(std::uint8_t* buf, std::size_t len, bool& eof) override;
  void on_up_sent() override;
  H2Session* s;
  Stream* st;
};

}  // namespace fulcrum::l7
