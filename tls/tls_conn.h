// tls/tls_conn.h — a TLS stream over a connected non-blocking socket: server side (clients of
// a TLS listener) or client side (lbd to a backend's servers).
//
// The caller keeps doing readiness-based I/O on its socket: each call tries once and says what
// to wait for. Two rules the caller must follow:
//  - after kWantRead/kWantWrite, retry the same call (a write with the same bytes) once the
//    socket is ready for what was asked, which is not always the direction of the call (a read
//    can need to write, a write to read);
//  - plaintext can be buffered inside OpenSSL with nothing left on the socket: check
//    has_buffered() before waiting for readability (a read of a full record into a smaller
//    buffer leaves the rest there).
//
// Lifetime: owned by the session; holds the ServerContext its SSL was made from.
#pragma once

#include <openssl/ssl.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tls/client_context.h"
#include "tls/server_context.h"

namespace fulcrum::tls {

// RFC 2253 subject of the client certificate `ssl` verified; empty when none was presented.
std::string verified_subject(const SSL* ssl);

class TlsConn {
 public:
  enum class Result : std::uint8_t { kOk, kWantRead, kWantWrite, kEof, kError };

  // Null SSL (out of memory) shows as kError on the first call.
  TlsConn(std::shared_ptr<const ServerContext> ctx, int fd);
  // Client side (lbd to a server, tls/client_context.h): SNI and verified name from `ctx` and
  // the server's configured host; offers the server's session from `sessions` (null: none).
  TlsConn(std::shared_ptr<const ClientContext> ctx, int fd, std::string_view server_host,
          SessionCache* sessions, std::uint32_t server_id);
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  Result handshake();
  // kOk with n > 0 bytes, or why none.
  Result read(char* buf, std::size_t cap, std::size_t& n);
  // kOk with n > 0 bytes of the iovecs written (in order), or why none. Small leading pieces
  // are gathered so that a response head and its body share a record.
  Result writev(const iovec* iov, int count, std::size_t& n);
  // Plaintext already decrypted and waiting in OpenSSL.
  bool has_buffered() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }
  // read() and writev() in the shape of recv()/sendmsg(), for I/O loops written around them:
  // bytes, 0 at EOF (reads), or -1 with errno EAGAIN (wait; `other_way` is set when the wait
  // is for the other direction), EPIPE (a write after the peer's close_notify) or EPROTO (a
  // TLS error, described by error()).
  ssize_t recv(char* buf, std::size_t cap, bool& other_way);
  ssize_t send(const iovec* iov, int count, bool& other_way);
  // A write returned kWantWrite: OpenSSL holds its record until the same write is retried.
  bool write_pending() const { return write_pending_; }
  // Sends close_notify if the socket takes it now; never waits for the peer's.
  void shutdown();

  // After the handshake.
  std::string_view alpn() const;
  bool resumed() const { return SSL_session_reused(ssl_) == 1; }
  // verified_subject(), worked out once per connection.
  const std::string& peer_subject() {
    if (!subject_done_) subject_ = verified_subject(ssl_);
    subject_done_ = true;
    return subject_;
  }
  // Why the last call failed (OpenSSL's reason), for a debug log.
  const std::string& error() const { return error_; }
  SSL* ssl() const { return ssl_; }

 private:
  Result result_of(int ret);
  Result write_failed(int ret);

  std::shared_ptr<const ServerContext> ctx_;
  SSL* ssl_;
  std::string error_;
  std::string subject_;
  bool subject_done_ = false;
  bool write_pending_ = false;
  std::unique_ptr<ClientSide> client_;  // client side only
};

}  // namespace fulcrum::tls
