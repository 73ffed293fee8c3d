// tls/server_context.h — the OpenSSL server side of one TLS listener, built from its config.
//
// Built on the control thread when a snapshot is (so a reload re-reads every certificate, key,
// OCSP response and CA file); read-only afterwards and shared by all workers. A connection
// holds a shared_ptr to the context it started with, and its SSL holds references to the
// SSL_CTX, so a reload (or a failed one) never changes a connection's certificates.
//
// One SSL_CTX per "site": the certificates that name the same hosts, at most one per key type,
// so an ECDSA and an RSA certificate for the same names sit in one SSL_CTX and OpenSSL picks by
// the client's signature algorithms. The servername callback moves a connection to the site of
// its SNI name: exact names first, then the wildcard covering it ("*.b.test" covers one label,
// as certificate matching does), else the first certificate's site (the default).
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/model.h"
#include "tls/ticket_keys.h"

namespace fulcrum::tls {

class ServerContext {
 public:
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Errors (unreadable file, key not matching its certificate, a cipher, curve or protocol
  // OpenSSL does not know) are appended at the config's marks, `path` being the key path of the
  // tls block ("listeners[0].tls"); null then. `listener` names the ticket-key ring.
  // `offer_h2`: keep "h2" in the ALPN list (only when an HTTP/2 engine exists).
  static std::shared_ptr<const ServerContext> build(const config::TlsConfig& cfg,
                                                    const std::string& listener,
                                                    const std::string& path, bool offer_h2,
                                                    std::vector<config::ConfigError>& errors);

  // A new server-side SSL on the default site; null when out of memory.
  SSL* new_ssl() const;

  // The site's SSL_CTX for an SNI name (any case); the default for unknown names.
  SSL_CTX* select(std::string_view server_name) const;
  // Host names of the site `ctx` (tests, logs).
  const std::vector<std::string>& names_of(const SSL_CTX* ctx) const;
  std::size_t site_count() const { return sites_.size(); }

  TicketKeys* ticket_keys() const { return tickets_.get(); }
  // The ring of the ServerContext that made `ssl` (null: tickets off).
  static TicketKeys* ticket_keys_of(SSL* ssl);

 private:
  ServerContext() = default;
  struct Site {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;
    std::vector<int> key_types;  // EVP_PKEY_EC, EVP_PKEY_RSA, ... one certificate each
    std::vector<std::pair<X509*, std::string>> ocsp;  // leaf -> DER response
  };
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_status(SSL* ssl, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                     const unsigned char* in, unsigned int inlen, void* arg);

  std::vector<std::unique_ptr<Site>> sites_;
  std::map<std::string, const Site*, std::less<>> exact_;
  std::map<std::string, const Site*, std::less<>> wildcard_;  // ".b.test" for "*.b.test"
  std::shared_ptr<TicketKeys> tickets_;
  std::string alpn_wire_;  // length-prefixed protocols, preference order
};

}  // namespace fulcrum::tls
