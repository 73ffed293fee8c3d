// tls/client_context.h — the OpenSSL client side of one backend: lbd connecting to its servers
// over TLS (verification against a CA bundle, SNI, an optional client certificate).
//
// Built on the control thread when a snapshot is, so a reload re-reads the CA bundle, the
// certificate and the key, and a failed reload keeps the old context. Read-only afterwards and
// shared by all workers; a connection's SSL holds a reference to the SSL_CTX, and its TlsConn a
// shared_ptr to the context, so neither changes under a pooled connection.
//
// Session reuse (as nginx's proxy_ssl_session_reuse): each worker keeps the newest session of
// each server in its own SessionCache, filled by OpenSSL's new-session callback (TLS 1.3 tickets
// arrive after the handshake, so the session cannot be taken when the handshake ends). A session
// resumes only on the context that made it: a reload that changes what is verified must not
// skip the verification by resuming.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/model.h"

namespace fulcrum::tls {

class TlsConn;

// One worker's newest session per server (by balance::Server::id). Worker thread only.
class SessionCache {
 public:
  SessionCache() = default;
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // The session to offer to `server_id` on a connection made from context `ctx_id`, or null.
  SSL_SESSION* get(std::uint32_t server_id, std::uint64_t ctx_id) const;
  // Takes ownership of `s`, replacing the server's previous session.
  void put(std::uint32_t server_id, std::uint64_t ctx_id, SSL_SESSION* s);
  // Forgets the server's session (its last resumption failed or the server refused us).
  void drop(std::uint32_t server_id);

 private:
  struct Entry {
    std::uint64_t ctx_id = 0;
    SSL_SESSION* session = nullptr;
  };
  std::vector<Entry> by_server_;
};

class ClientContext;

// What a client-side TlsConn keeps of its server; the new-session callback finds it through the
// SSL's ex_data.
struct ClientSide {
  std::shared_ptr<const ClientContext> ctx;
  SessionCache* sessions = nullptr;  // null: no reuse
  std::uint32_t server_id = 0;
};

class ClientContext {
 public:
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Errors (unreadable CA bundle, certificate or key, a key not matching its certificate, a
  // cipher or protocol OpenSSL does not know) are appended at the config's marks, `path` being
  // the key path of the tls block ("backends[0].tls"); null then. `alpn`: the protocols offered
  // (wire format is built here), e.g. {"h2"} for protocol: h2 backends.
  static std::shared_ptr<const ClientContext> build(const config::UpstreamTlsConfig& cfg,
                                                    const std::string& path,
                                                    const std::vector<std::string>& alpn,
                                                    std::vector<config::ConfigError>& errors);

  // A new client-side SSL for a server whose configured host is `server_host` (a DNS name or
  // an IP literal): SNI and the verified name are the configured sni, else that host; an IP is
  // verified against the certificate's IP entries and sends no SNI. Null when out of memory.
  SSL* new_ssl(std::string_view server_host) const;
  // Makes `ssl` (from new_ssl) offer the cached session of `side`'s server and store the ones
  // the server sends; `side` must outlive `ssl`.
  static void attach(SSL* ssl, ClientSide& side);

  // Unique per build (never reused, unlike an address): which context a cached session is of.
  std::uint64_t id() const { return id_; }
  bool session_reuse() const { return session_reuse_; }
  // The ALPN protocol the servers must select ("h2"), or empty when any (or none) will do.
  const std::string& required_alpn() const { return required_alpn_; }

 private:
  ClientContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  std::string sni_;
  bool verify_ = true;
  bool session_reuse_ = true;
  std::string required_alpn_;
  std::uint64_t id_ = 0;
};

// Why a client handshake failed, for the log: OpenSSL's reason, and with a certificate that did
// not verify, what was wrong with it ("certificate has expired", "hostname mismatch", ...).
std::string handshake_failure(const TlsConn& conn);

}  // namespace fulcrum::tls
