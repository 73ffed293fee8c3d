#include "tls/tls_conn.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

namespace fulcrum::tls {

namespace {
// One TLS record's worth: what gathering small pieces into one SSL_write may copy.
constexpr std::size_t kGather = 16 * 1024;
// Pieces smaller than this are worth a copy to avoid a record (and a syscall) of their own.
constexpr std::size_t kSmall = 4 * 1024;
}  // namespace

TlsConn::TlsConn(std::shared_ptr<const ServerContext> ctx, int fd)
    : ctx_(std::move(ctx)), ssl_(ctx_->new_ssl()) {
  if (ssl_ == nullptr) return;
  SSL_set_fd(ssl_, fd);
  SSL_set_accept_state(ssl_);
}

TlsConn::TlsConn(std::shared_ptr<const ClientContext> ctx, int fd, std::string_view server_host,
                 SessionCache* sessions, std::uint32_t server_id)
    : ssl_(ctx->new_ssl(server_host)),
      client_(std::make_unique<ClientSide>(ClientSide{std::move(ctx), sessions, server_id})) {
  if (ssl_ == nullptr) return;
  SSL_set_fd(ssl_, fd);
  ClientContext::attach(ssl_, *client_);
  SSL_set_connect_state(ssl_);
}

TlsConn::~TlsConn() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

TlsConn::Result TlsConn::result_of(int ret) {
  const int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return Result::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Result::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return Result::kEof;
    case SSL_ERROR_SYSCALL:
      // With SSL_OP_IGNORE_UNEXPECTED_EOF a bare TCP close is an EOF; errno 0 likewise.
      error_ = errno != 0 ? std::strerror(errno) : "connection closed";
      ERR_clear_error();
      return errno == 0 || errno == ECONNRESET || errno == EPIPE ? Result::kEof : Result::kError;
    default: {
      const unsigned long code = ERR_peek_last_error();
      const char* reason = code ? ERR_reason_error_string(code) : nullptr;
      error_ = reason ? reason : "TLS error";
      ERR_clear_error();
      return Result::kError;
    }
  }
}

TlsConn::Result TlsConn::handshake() {
  if (ssl_ == nullptr) return Result::kError;
  errno = 0;
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Result::kOk;
  return result_of(r);
}

TlsConn::Result TlsConn::read(char* buf, std::size_t cap, std::size_t& n) {
  n = 0;
  if (ssl_ == nullptr) return Result::kError;
  errno = 0;
  const int r = SSL_read_ex(ssl_, buf, cap, &n);
  if (r == 1) return Result::kOk;
  return result_of(r);
}

TlsConn::Result TlsConn::write_failed(int ret) {
  const Result r = result_of(ret);
  write_pending_ = r == Result::kWantWrite;
  return r;
}

ssize_t TlsConn::recv(char* buf, std::size_t cap, bool& other_way) {
  std::size_t n = 0;
  other_way = false;
  switch (read(buf, cap, n)) {
    case Result::kOk:
      return static_cast<ssize_t>(n);
    case Result::kWantWrite:
      other_way = true;
      [[fallthrough]];
    case Result::kWantRead:
      errno = EAGAIN;
      return -1;
    case Result::kEof:
      return 0;
    case Result::kError:
      break;
  }
  errno = EPROTO;
  return -1;
}

ssize_t TlsConn::send(const iovec* iov, int count, bool& other_way) {
  std::size_t n = 0;
  other_way = false;
  switch (writev(iov, count, n)) {
    case Result::kOk:
      return static_cast<ssize_t>(n);
    case Result::kWantRead:
      other_way = true;
      [[fallthrough]];
    case Result::kWantWrite:
      errno = EAGAIN;
      return -1;
    case Result::kEof:
      errno = EPIPE;
      return -1;
    case Result::kError:
      break;
  }
  errno = EPROTO;
  return -1;
}

TlsConn::Result TlsConn::writev(const iovec* iov, int count, std::size_t& n) {
  n = 0;
  if (ssl_ == nullptr) return Result::kError;
  write_pending_ = false;
  int i = 0;
  // A retry after kWantWrite passes the same iovecs, so the gathered bytes are the same too,
  // as OpenSSL requires of a retried write.
  if (count > 1 && iov[0].iov_len < kSmall) {
    thread_local char gather[kGather];
    std::size_t len = 0;
    for (; i < count && len < kGather; ++i) {
      const std::size_t take = std::min(iov[i].iov_len, kGather - len);
      std::memcpy(gather + len, iov[i].iov_base, take);
      len += take;
      if (take < iov[i].iov_len) break;
    }
    errno = 0;
    std::size_t w = 0;
    const int r = SSL_write_ex(ssl_, gather, len, &w);
    if (r != 1) return write_failed(r);
    n = w;  // the caller comes back for the rest, if any
    return Result::kOk;
  }
  for (; i < count; ++i) {
    if (iov[i].iov_len == 0) continue;
    errno = 0;
    std::size_t w = 0;
    const int r = SSL_write_ex(ssl_, iov[i].iov_base, iov[i].iov_len, &w);
    if (r != 1) {
      if (n > 0) {
        write_pending_ = SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE;
        ERR_clear_error();
        return Result::kOk;  // report what went; the next call retries this piece
      }
      return write_failed(r);
    }
    n += w;
    if (w < iov[i].iov_len) break;
  }
  return Result::kOk;
}

void TlsConn::shutdown() {
  if (ssl_ == nullptr || !SSL_is_init_finished(ssl_)) return;
  // Quiet: a peer that is gone makes this fail, and nothing is waiting on the result.
  if (SSL_shutdown(ssl_) < 0) ERR_clear_error();
}

std::string_view TlsConn::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return {reinterpret_cast<const char*>(p), len};
}

std::string verified_subject(const SSL* ssl) {
  const X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  // RFC 2253 escapes control and non-ASCII bytes, so the value is safe in a header field.
  X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len > 0 ? len : 0));
  BIO_free(bio);
  return out;
}

}  // namespace fulcrum::tls
