// l7/http2/h1_h2_bridge.h — an HTTP/1.1 client's exchange carried as one stream of a pooled
// HTTP/2 server connection (`protocol: h2` backends), as HAProxy's `proto h2` servers and
// Envoy's http2_protocol_options clusters do.
//
// HttpSession keeps everything an HTTP/1.1 exchange has in common with its HTTP/1.1 servers:
// parsing, routing, balancing, the queue, retries, the access log, timeouts and the client's
// socket. The bridge replaces only the server side: the rewritten head becomes HEADERS (with
// the X-Forwarded-* fields and header rules already applied), the body goes out de-chunked as
// DATA, and the response comes back as an HTTP/1.1 head plus a body framed by Content-Length,
// chunks (with the server's trailers as chunked trailers) or the connection's close (HTTP/1.0).
//
// Lifetime: owned by its HttpSession and reused for the connection's next exchanges. While a
// stream is open the server connection holds a raw pointer to the bridge, so the bridge holds
// the session (`keep_`) until release() cancels or forgets the stream. The H2UpstreamUser
// callbacks run inside nghttp2's: they only fill buffers and post a pump; what touches the
// session's state machine (errors, retries, the end of the exchange) runs from that pump.
//
// Buffering is bounded by HTTP/2 flow control in both directions: response bytes are
// acknowledged (consume()) only once written to the client, so at most one stream window waits
// here; request bytes stay in the session's client buffer (one block) until nghttp2 pulls them.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "l7/http1/parser.h"
#include "l7/http2/h2_upstream.h"

namespace fulcrum::balance {
struct Server;
}

namespace fulcrum::l7 {

class HttpSession;

class H1H2Bridge final : public H2UpstreamUser {
 public:
  explicit H1H2Bridge(HttpSession& session) : s_(session) {}
  ~H1H2Bridge() override;
  H1H2Bridge(const H1H2Bridge&) = delete;
  H1H2Bridge& operator=(const H1H2Bridge&) = delete;

  // Before the head's views go away: what the HTTP/2 request needs from the client's head.
  void prepare(const http1::RequestHead& h);
  // One attempt on `server` (its slot taken, stats set): opens the stream from the session's
  // rewritten head (uout_).
  void start(const balance::Server& server);
  // True from start() until release(): the session's pumps hand over to pump().
  bool active() const { return active_; }
  // Both directions: response bytes to the client, request body from the client, and what the
  // callbacks left to do (errors, the end).
  void pump();
  // Cancels the stream if it is still open and lets the session go (end of the exchange,
  // retry, error, close).
  void release();
  // The chunked request body de-chunked in place in the session's client buffer (HTTP/2 DATA
  // carries payload only). False when an error was answered.
  bool dechunk_request();

  // H2UpstreamUser.
  void on_up_interim(int status, H2Fields& fields) override;
  void on_up_head(int status, H2Fields& fields, bool end) override;
  void on_up_data(const std::uint8_t* data, std::size_t len) override;
  void on_up_trailers(H2Fields& fields) override;
  void on_up_end() override;
  void on_up_error(const char* reason, bool before_head) override;
  std::size_t up_body(std::uint8_t* buf, std::size_t len, bool& eof) override;
  void on_up_sent() override;

 private:
  void post_pump();
  bool write_head(int status, H2Fields& fields, bool end);
  void fail(const char* reason, bool retryable);
  void pump_client_write();
  void pump_client_read();

  HttpSession& s_;
  std::shared_ptr<HttpSession> keep_;
  std::shared_ptr<H2UpConn> conn_;  // while the server stream is open
  std::int32_t id_ = -1;
  std::string store_;  // header bytes the nghttp2_nv entries point into
  std::vector<nghttp2_nv> nva_;
  // Response bytes after the head (chunk framing, payload, trailers) not yet written, and the
  // payload each piece carries, acknowledged to the server once the piece is written.
  std::string out_;
  std::size_t out_off_ = 0;
  struct Piece {
    std::size_t end;
    std::size_t payload;
  };
  std::vector<Piece> pieces_;
  H2Fields trailers_;
  const char* error_ = nullptr;
  bool retryable_ = false;  // error_ came before any response: another server may answer
  bool active_ = false;
  bool te_trailers_ = false;  // the client accepts trailers (gRPC): "te: trailers" goes up
  bool chunked_ = false;      // the body goes to the client chunked
  bool no_body_ = false;      // HEAD, 204, 304: DATA from the server is dropped
  bool ended_ = false;        // the server ended the stream cleanly
  bool posted_ = false;
};

}  // namespace fulcrum::l7
