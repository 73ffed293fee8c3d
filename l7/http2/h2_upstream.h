// l7/http2/h2_upstream.h — HTTP/2 (h2c) connections to servers of a `protocol: h2` backend,
// pooled per worker and shared by many streams at once (gRPC: trailers, long-lived streams).
//
// A connection is owned by the worker's H2UpstreamPool and by its pending handlers; a stream's
// user (H2UpstreamUser) is referenced by raw pointer until the stream ends or the user calls
// cancel(), which it must do before it goes away. Flow control runs end to end: response bytes
// are acknowledged (WINDOW_UPDATE) only when the user says the client took them (consume()),
// and the request body is pulled from the user as the server's window allows.
#pragma once

#include <nghttp2/nghttp2.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "l7/http2/h2_headers.h"
#include "metrics/stats.h"
#include "tls/tls_conn.h"

namespace fulcrum::l7 {

// The side of a stream that waits for the server's answer. Every call comes from the worker's
// event loop, never from inside the user's own calls into the connection.
class H2UpstreamUser {
 public:
  virtual ~H2UpstreamUser() = default;
  // The response head (`fields` without pseudo-fields); `end`: no body follows.
  virtual void on_up_head(int status, H2Fields& fields, bool end) = 0;
  // An informational (1xx, not 101) response before the head; HTTP/2 clients do not get them.
  virtual void on_up_interim(int /*status*/, H2Fields& /*fields*/) {}
  virtual void on_up_data(const std::uint8_t* data, std::size_t len) = 0;
  virtual void on_up_trailers(H2Fields& fields) = 0;
  virtual void on_up_end() = 0;
  // The stream failed before its end (reset, connection lost or refused). `before_head` tells
  // whether anything of the response came.
  virtual void on_up_error(const char* reason, bool before_head) = 0;
  // Up to `len` request body bytes into `buf`; `eof` once the body is complete. Returns the
  // count (0 with !eof: nothing yet, resume() follows).
  virtual std::size_t up_body(std::uint8_t* buf, std::size_t len, bool& eof) = 0;
  // The request went out (a stream was opened): connect time is over.
  virtual void on_up_sent() {}
};

// TLS to the server (backends with tls): h2 over TLS, offered by ALPN and required. A null
// context: cleartext h2c with prior knowledge.
struct H2UpTls {
  std::shared_ptr<const tls::ClientContext> ctx;
  std::string_view host;                  // the server's configured host (SNI, verified name)
  tls::SessionCache* sessions = nullptr;  // the worker's, for resumption
};

class H2UpConn : public std::enable_shared_from_this<H2UpConn> {
 public:
  H2UpConn(asio::io_context& io, std::uint32_t server_id, metrics::ServerSlot* stats);
  ~H2UpConn();
  H2UpConn(const H2UpConn&) = delete;
  H2UpConn& operator=(const H2UpConn&) = delete;

  // `draining` (the worker's flag) closes an idle connection at once.
  // The connect timeout covers the TLS handshake too.
  void connect(const asio::ip::tcp::endpoint& ep, std::chrono::milliseconds timeout,
               std::chrono::milliseconds idle_timeout, const bool* draining, const H2UpTls& tls);
  // Opens a stream; -1 if the connection cannot take one (the caller picks another).
  std::int32_t submit(const std::vector<nghttp2_nv>& nva, bool has_body, H2UpstreamUser* user);
  void resume(std::int32_t id);                  // more request body is there
  void consume(std::int32_t id, std::size_t n);  // the client took n response bytes
  void cancel(std::int32_t id);                  // RST_STREAM(CANCEL); the user is forgotten
  // Connected or connecting, not going away, and room for one more stream.
  bool has_room() const;
  bool closed() const { return closed_; }
  std::uint32_t server_id() const { return server_id_; }
  std::uint64_t tls_id() const { return tls_id_; }  // the client context's id; 0: h2c
  void close(const char* reason);

 private:
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* u);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* u);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* u);
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u);
  static ssize_t read_body(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* src, void* u);
  void on_connected(const std::error_code& ec);
  void handshake();
  void on_up();  // connected (and TLS done): streams may go
  // recv/send on the socket, or through TLS with their results (-1 with EAGAIN: wait).
  ssize_t recv_some(char* buf, std::size_t cap);
  ssize_t send_some(const char* p, std::size_t n);
  void on_readable();
  void flush();
  void schedule_flush();
  void arm_idle();

  struct Entry {
    H2UpstreamUser* user = nullptr;
    H2Fields fields;  // head or trailers being received
    int status = 0;
    bool head_seen = false;
    std::size_t unconsumed = 0;  // response bytes received, not yet taken by the client
  };

  asio::ip::tcp::socket sock_;
  asio::steady_timer timer_;  // connect timeout, then idle timeout
  std::uint32_t server_id_;
  metrics::ServerSlot* stats_;
  nghttp2_session* ng_ = nullptr;
  std::map<std::int32_t, Entry> streams_;
  std::string out_;
  std::size_t out_sent_ = 0;
  std::chrono::milliseconds idle_timeout_{};
  std::chrono::steady_clock::time_point idle_since_{};
  const bool* draining_ = nullptr;
  std::unique_ptr<tls::TlsConn> tls_;  // h2 over TLS; null: h2c
  std::shared_ptr<const tls::ClientContext> tls_ctx_;
  std::string tls_host_;
  tls::SessionCache* sessions_ = nullptr;
  std::uint64_t tls_id_ = 0;
  bool tls_read_wants_write_ = false;
  bool tls_write_wants_read_ = false;
  bool connected_ = false;
  bool closed_ = false;
  bool read_wait_ = false;
  bool write_wait_ = false;
  bool flush_posted_ = false;
  bool in_recv_ = false;
};

// This worker's h2 connections, by server id.
class H2UpstreamPool {
 public:
  H2UpstreamPool(asio::io_context& io, const bool* draining) : io_(io), draining_(draining) {}
  // A connection to `server_id` with room for a stream, connecting a new one when none has.
  std::shared_ptr<H2UpConn> get(std::uint32_t server_id, const asio::ip::tcp::endpoint& ep,
                                metrics::ServerSlot* stats, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds idle_timeout, const H2UpTls& tls);
  void close_all();

 private:
  asio::io_context& io_;
  const bool* draining_;
  std::map<std::uint32_t, std::vector<std::shared_ptr<H2UpConn>>> conns_;
};

// The pool of the worker running this thread (created on first use; one worker per thread).
// `draining` is the worker's WorkerContext::draining.
H2UpstreamPool& h2_upstream_pool(asio::io_context& io, const bool* draining);

}  // namespace fulcrum::l7
