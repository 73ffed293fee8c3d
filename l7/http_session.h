// l7/http_session.h — one client connection of an HTTP listener, from accept to close.
//
// Lifetime: shared_ptr, held only by the session's own pending socket handlers. Every handler
// checks `phase_ == kClosed` first, so a handler that was already queued when the session
// closed does nothing. The worker's intrusive session list holds raw pointers that the
// destructor unlinks; the worker walks it to enforce timeouts and to drain at shutdown.
//
// I/O is readiness-based: reads and writes are tried at once on the non-blocking sockets and
// only an EAGAIN turns into an async_wait. So an idle keep-alive connection holds no buffer, and
// a request whose bytes are already there costs no wait at all.
//
// Each request runs on the snapshot that was current when its head arrived (adopt_snapshot());
// an exchange in flight, or a tunnel, keeps the one it started with.
#pragma once

#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

struct iovec;

#include "core/buffer.h"
#include "l7/access_log.h"
#include "l7/http1/parser.h"
#include "l7/snapshot.h"
#include "l7/upstream_pool.h"
#include "l7/worker_context.h"
#include "tls/tls_conn.h"

namespace fulcrum::l7 {

class H1H2Bridge;

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(WorkerContext& wc, std::shared_ptr<const Snapshot> snap, const Listener* listener,
              asio::ip::tcp::socket sock, const asio::ip::tcp::endpoint& peer);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Links of the worker's wait queue (core/wait_queue.h).
  HttpSession* q_prev = nullptr;
  HttpSession* q_next = nullptr;

  void start();
  // Graceful shutdown: closes now if idle, otherwise after the response in progress.
  void drain();
  // Closes at once (shutdown timeout reached).
  void abort() { close(); }

  HttpSession* list_prev = nullptr;
  HttpSession* list_next = nullptr;

 private:
  // protocol: h2 backends: the server side of the exchange (l7/http2/h1_h2_bridge.h).
  friend class H1H2Bridge;

  enum class Phase : std::uint8_t {
    kHandshake,  // TLS listeners: before the first request, bounded by handshake_timeout
    kIdle,
    kHead,
    kQueued,  // waiting in the worker's queue for a server slot
    kConnect,
    kExchange,
    kTunnel,
    kLinger,
    kClosed
  };
  enum class Io : std::uint8_t { kData, kWouldBlock, kEof, kError, kFull };

  // Client side.
  void wait_client_read();
  void wait_client_write();
  void on_client_readable();
  // TLS: the handshake, then the client side of read_into/send_to goes through tls_. The
  // results map onto recv/sendmsg's (-1 with EAGAIN: wait; 0: EOF) so the pumps stay as they
  // are; a read that needs the socket writable (or a write that needs it readable) flips the
  // direction of the next wait_client_read (wait_client_write).
  void do_handshake();
  void on_handshake_done();
  void handshake_failed(metrics::TlsFailure why);
  ssize_t tls_recv(char* p, std::size_t cap);
  ssize_t tls_send(const iovec* iov, int count);
  Io read_into(asio::ip::tcp::socket& s, Buffer& b, std::size_t capacity);
  ssize_t send_to(asio::ip::tcp::socket& s, iovec* iov, int count);
  void count_response(int status);
  void process_head();
  void adopt_snapshot();
  bool account_request_body();

  // Upstream side.
  void connect_upstream();
  const balance::Server* acquire_server();
  void connect_to(const balance::Server* s);
  bool backend_full() const;
  void enqueue();
  bool try_dequeue();
  void leave_queue();
  friend class WaitQueue<HttpSession>;
  const void* queue_key() const { return backend_; }
  void on_connected(const std::error_code& ec);
  // Backends with tls: the handshake after the TCP connect (phase kConnect, so connect_timeout
  // bounds it and a failure takes the failed-connect path), then the upstream side of
  // read_into/send_to goes through up_->tls like the client side through tls_.
  void up_handshake();
  void up_handshake_failed(const std::string& why);
  ssize_t up_tls_recv(char* p, std::size_t cap);
  ssize_t up_tls_send(const iovec* iov, int count);
  void retry_or_fail(const char* reason, int status);
  void start_exchange();
  void wait_up_read();
  void wait_up_write();
  void release_upstream(bool reusable);

  // The two directions of an exchange, each a bounded loop of write-what-is-ready, then read.
  void pump_request();   // client -> upstream
  void pump_response();  // upstream -> client
  bool on_response_head();
  bool account_response_body();
  bool dechunk_response();
  void finish_exchange();

  // Access log.
  void log_begin(const http1::RequestHead* h);
  void log_end();

  std::string_view client_ip(char (&buf)[46]) const;
  std::uint64_t request_hash(const http1::RequestHead& h, std::string_view path,
                             std::string_view query) const;
  const balance::Server* sticky_server(const http1::RequestHead& h);
  void learn_sticky(const http1::ResponseHead& h);

  // Routing.
  void respond_local(const http1::RequestHead& h, std::string_view host, std::string_view path,
                     std::string_view query);
  std::string_view rewrite_path(std::string_view path, std::string_view query);

  // Tunnel (after 101 Switching Protocols).
  void tunnel_pump();

  // Ending.
  void send_error(int status, const char* reason);
  void linger_close();
  void linger();
  void close();

  // Timeouts: moving the deadline is a store; the worker's sweep (sweep_sessions) calls
  // on_timer once it has passed.
  void set_deadline(std::chrono::milliseconds d);
  void on_timer();
  friend void sweep_sessions(WorkerContext& wc);
  friend void retire_sessions(WorkerContext& wc, std::chrono::milliseconds grace);
  // When a reload removed this session's backend: closed at this time (max(): never).
  std::chrono::steady_clock::time_point cut_at_ = std::chrono::steady_clock::time_point::max();

  WorkerContext& wc_;
  std::shared_ptr<const Snapshot> snap_;
  const Listener* lis_;
  asio::ip::tcp::socket client_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  // Bound of the whole exchange (request_timeout); max() when none is running.
  std::chrono::steady_clock::time_point total_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::shared_ptr<UpstreamConn> up_;
  const Route* route_ = nullptr;      // of the request in flight; null: the listener default
  const Backend* backend_ = nullptr;  // of the request in flight
  const balance::Server* server_ = nullptr;
  const balance::Server* active_on_ = nullptr;  // holds one count of its `active`
  std::uint64_t hash_ = 0;                      // PickContext::hash of the request in flight
  const balance::Server* sticky_ = nullptr;     // the server the sticky cookie names
  // Sticky mode learn: the hash of the session cookie the request carried (0: none).
  std::uint64_t sticky_key_ = 0;
  // While in the worker's wait queue (enqueue()): the reference that keeps the session alive,
  // since no socket handler of it is pending while it waits.
  std::shared_ptr<HttpSession> q_self_;
  std::chrono::steady_clock::time_point sent_at_{};  // request went upstream (for EWMA latency)
  std::chrono::steady_clock::time_point head_at_{};  // request head complete (for the histogram)

  // This worker's counters (metrics/stats.h): of the listener for the whole connection, of the
  // backend and server for the exchange in flight.
  metrics::ListenerSlot* ls_;
  metrics::BackendSlot* bs_ = nullptr;
  metrics::ServerSlot* ss_ = nullptr;

  Buffer cin_;   // client bytes: request head, then body bytes waiting to go upstream
  Buffer cout_;  // generated response heads and errors for the client
  Buffer uin_;   // upstream bytes: response head, then body bytes waiting to go to the client
  Buffer uout_;  // rewritten request head (kept until the response starts, for a retry)

  std::unique_ptr<AccessRecord> log_;  // only when the listener logs
  std::unique_ptr<tls::TlsConn> tls_;  // TLS listeners only
  std::unique_ptr<H1H2Bridge> h2_;     // made by the first request to a protocol: h2 backend
  asio::ip::address client_addr_;
  const char* retry_reason_ = "";

  // Exchange state, 8-byte fields first and flags last: the session's size is most of what an
  // idle connection costs.
  std::uint64_t req_remaining_ = 0;
  std::uint64_t req_body_seen_ = 0;
  std::uint64_t resp_remaining_ = 0;
  http1::ChunkedDecoder req_chunked_;
  http1::ChunkedDecoder resp_chunked_;
  std::uint32_t req_fwd_ = 0;    // body bytes at the front of cin_ ready to go upstream
  std::uint32_t uout_sent_ = 0;  // bytes of uout_ already written
  std::uint32_t resp_fwd_ = 0;   // body bytes at the front of uin_ ready to go to the client
  std::uint16_t retry_status_ = 502;

  Phase phase_ = Phase::kIdle;
  http1::Method method_ = http1::Method::kGet;
  http1::BodyKind req_body_ = http1::BodyKind::kNone;
  http1::BodyKind resp_body_ = http1::BodyKind::kNone;
  std::uint8_t client_minor_ = 1;
  std::uint8_t attempts_ = 0;
  bool trusted_ = false;  // the client is one of the listener's trusted_proxies
  bool client_read_wait_ = false;
  bool client_write_wait_ = false;
  bool tls_read_wants_write_ = false;
  bool tls_write_wants_read_ = false;
  bool tunnel_client_eof_ = false;
  bool tunnel_up_eof_ = false;
  bool close_after_ = false;        // close the client connection once this response is out
  bool client_said_close_ = false;  // the client asked to close: it sends nothing more
  bool upgrade_ = false;
  bool req_done_ = false;
  bool req_body_sent_ = false;  // some body byte left: a retry is no longer possible
  bool reused_ = false;         // the upstream connection came from the pool
  bool retry_same_ = false;     // next attempt: same server allowed, fresh connection only
  bool resp_head_done_ = false;
  bool resp_started_ = false;  // some byte of the final response reached cout_
  bool resp_sent_ = false;     // some byte of the response reached the client
  bool resp_done_ = false;
  bool resp_keep_alive_ = false;
  bool up_extra_ = false;  // upstream sent bytes past the response: do not reuse
};

// Runs every session's timeout that has passed; the worker calls it every kSweepInterval.
void sweep_sessions(WorkerContext& wc);
// Starts the worker's periodic sweep; it stops by itself once the worker drains and has no
// session left.
void start_sweep(WorkerContext& wc);
// After the worker took a new snapshot: sessions busy on a backend it no longer has (tunnels,
// long responses) are closed once `grace` has passed; the rest carry on.
void retire_sessions(WorkerContext& wc, std::chrono::milliseconds grace);

}  // namespace fulcrum::l7
