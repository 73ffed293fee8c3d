// l7/http2/h2_session.h — one HTTP/2 client connection (h2 over TLS after ALPN, or h2c with
// prior knowledge), served with nghttp2's session API.
//
// Every stream is routed, balanced and forwarded like an HTTP/1.1 request (l7/router, balance/,
// l7/forward.cc) to an HTTP/1.1 server connection from the worker's pool, so the streams of one
// connection may go to different servers. I/O is readiness-based on the non-blocking socket, as
// in HttpSession; through tls::TlsConn when the connection is TLS.
//
// Memory is bounded per stream and per connection: request bodies by the HTTP/2 windows (this
// side sends WINDOW_UPDATE only once bytes went upstream), responses by one pooled block per
// stream (the server is read only while the block has room, which the client's window drains).
#pragma once

#include <asio/ip/tcp.hpp>
#include <memory>
#include <string_view>

#include "l7/snapshot.h"
#include "l7/worker_context.h"
#include "tls/tls_conn.h"

namespace fulcrum::l7 {

// The client preface of HTTP/2 with prior knowledge (RFC 9113 §3.4), as HttpSession sees it
// where a request line would be.
inline constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Serves `sock` as HTTP/2 from now on. `already_read` (the preface and whatever followed it) is
// processed first. `tls` is null for h2c: otherwise the connection's TLS after its handshake
// (ALPN "h2"), whose reads and writes the session goes through from now on.
void start_h2_session(WorkerContext& wc, std::shared_ptr<const Snapshot> snap,
                      const Listener* listener, asio::ip::tcp::socket sock,
                      const asio::ip::tcp::endpoint& peer, std::unique_ptr<tls::TlsConn> tls,
                      std::string_view already_read);

}  // namespace fulcrum::l7
