#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/log.h"
#include "tls/openssl_text.h"

namespace fulcrum::tls {

namespace {

// The reason of the newest OpenSSL error (and an empty queue after), for config messages.
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The DNS names a certificate is for: its subjectAltName entries, else its common name.
std::vector<std::string> cert_names(X509* x) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = g->d.dNSName;
      names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s))}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    const int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    if (n > 0) names.push_back(lower({cn, static_cast<std::size_t>(n)}));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

bool read_file(const std::string& path, std::string& out, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

struct Errors {
  const config::TlsConfig& cfg;
  const std::string& path;
  std::vector<config::ConfigError>& out;
  std::size_t before = out.size();
  void at_key(std::string_view key, std::string message) {
    out.push_back(
        {cfg.key_marks.at(key, cfg.mark), path + "." + std::string(key), std::move(message)});
  }
  bool ok() const { return out.size() == before; }
};

// Everything but the certificates, the same on every site's SSL_CTX: the SNI switch
// (SSL_set_SSL_CTX) keeps the options and verify mode of the first one, and caching and ticket
// callbacks run on the first one too, so all must agree.
bool configure(SSL_CTX* ctx, const config::TlsConfig& cfg, const std::string& listener, Errors& err,
               bool report) {
  const auto [lo, hi, gaps] = proto_range(cfg.protocols);
  long options = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                 SSL_OP_IGNORE_UNEXPECTED_EOF | gaps;
  if (!cfg.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 || SSL_CTX_set_max_proto_version(ctx, hi) != 1) {
    if (report) err.at_key("protocols", "OpenSSL refused the protocol range: " + openssl_error());
    return false;
  }
  // Released buffers are most of an idle connection's memory (HAProxy and NGINX keep ~14 KiB).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  if (SSL_CTX_set_cipher_list(ctx, cfg.ciphers.c_str()) != 1) {
    if (report) err.at_key("ciphers", "no cipher matches '" + cfg.ciphers + "'");
    ERR_clear_error();
    return false;
  }
  if (report) {
    // OpenSSL skips names it does not know while one other name matches; a typo then silently
    // weakens the list, so every name is checked on its own.
    for (const auto& t : split_list(cfg.ciphers)) {
      if (t[0] == '!' || t[0] == '-' || t[0] == '+' || t[0] == '@') continue;
      SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
      const bool known = probe && SSL_CTX_set_cipher_list(probe, t.c_str()) == 1;
      SSL_CTX_free(probe);
      ERR_clear_error();
      if (!known)
        err.at_key("ciphers", "unknown cipher '" + t + "' (OpenSSL has none by that name)");
    }
    for (const auto& t : split_list(cfg.ciphersuites)) {
      SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
      bool known = probe && SSL_CTX_set_ciphersuites(probe, t.c_str()) == 1;
      if (known) {
        // Unknown names leave an empty TLS 1.3 list rather than an error in some versions.
        known = false;
        STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(probe);
        for (int i = 0; all && i < sk_SSL_CIPHER_num(all); ++i) {
          known = known || SSL_CIPHER_get_name(sk_SSL_CIPHER_value(all, i)) == t;
        }
      }
      SSL_CTX_free(probe);
      ERR_clear_error();
      if (!known) err.at_key("ciphersuites", "unknown TLS 1.3 cipher suite '" + t + "'");
    }
    if (!err.ok()) return false;
  }
  if (SSL_CTX_set_ciphersuites(ctx, cfg.ciphersuites.c_str()) != 1) {
    if (report) err.at_key("ciphersuites", "no TLS 1.3 suite matches: " + openssl_error());
    ERR_clear_error();
    return false;
  }
  std::string groups;
  for (const auto& c : cfg.curves) groups += (groups.empty() ? "" : ":") + c;
  if (!groups.empty() && SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
    ERR_clear_error();
    if (report) {
      for (const auto& c : cfg.curves) {
        SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
        const bool known = probe && SSL_CTX_set1_groups_list(probe, c.c_str()) == 1;
        SSL_CTX_free(probe);
        ERR_clear_error();
        if (!known)
          err.at_key("curves", "unknown curve '" + c + "' (OpenSSL has none by that name)");
      }
      if (err.ok()) err.at_key("curves", "OpenSSL refused the curves '" + groups + "'");
    }
    return false;
  }

  // The same session id context on every site and across reloads: sessions resume anywhere
  // on this listener and nowhere else.
  unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
  unsigned int sid_len = 0;
  EVP_Digest(listener.data(), listener.size(), sid, &sid_len, EVP_sha256(), nullptr);
  SSL_CTX_set_session_id_context(ctx, sid, std::min<unsigned>(sid_len, SSL_MAX_SID_CTX_LENGTH));
  if (cfg.session_cache > 0) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, cfg.session_cache);
  } else {
    // Not OFF: OpenSSL then refuses to resume at all, tickets included.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  }
  // Session lifetime: a rotation period (the ring still opens tickets one period older), at
  // most the 7 days TLS 1.3 allows.
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(cfg.ticket_rotation).count();
  SSL_CTX_set_timeout(ctx, static_cast<long>(std::clamp<long long>(secs, 60, 7 * 24 * 3600)));
  // One TLS 1.3 ticket instead of two: each is an encryption and a record per handshake.
  SSL_CTX_set_num_tickets(ctx, 1);
  if (cfg.session_tickets) SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, TicketKeys::callback);

  if (cfg.verify_client != config::TlsConfig::Verify::kNone) {
    if (SSL_CTX_load_verify_locations(ctx, cfg.client_ca.c_str(), nullptr) != 1) {
      if (report) {
        err.at_key("client_ca",
                   "cannot load CA bundle '" + cfg.client_ca + "': " + openssl_error());
      }
      ERR_clear_error();
      return false;
    }
    // The names clients are told to pick their certificate by.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.client_ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    ERR_clear_error();
    int mode = SSL_VERIFY_PEER;
    if (cfg.verify_client == config::TlsConfig::Verify::kRequired) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  return true;
}

}  // namespace

ServerContext::~ServerContext() {
  for (auto& s : sites_) SSL_CTX_free(s->ctx);
}

std::shared_ptr<const ServerContext> ServerContext::build(
    const config::TlsConfig& cfg, const std::string& listener, const std::string& path,
    bool offer_h2, std::vector<config::ConfigError>& errors) {
  std::shared_ptr<ServerContext> self(new ServerContext());
  Errors err{cfg, path, errors};
  if (cfg.certificates.empty()) {
    err.at_key("certificates", "a TLS listener needs at least one certificate");
    return nullptr;
  }
  for (const auto& p : cfg.protocols) {
    if (p == "tls1.0" || p == "tls1.1") {
      LOG_WARN(
          "{}: {}.protocols: {} is deprecated (RFC 8996) and weak; clients that need it "
          "are better served by an upgrade",
          listener, path, p);
    }
  }
  if (cfg.session_tickets) {
    self->tickets_ = TicketKeys::for_listener(
        listener, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.ticket_rotation));
  }
  for (const auto& a : cfg.alpn) {
    if (a == "h2" && !offer_h2) continue;
    self->alpn_wire_.push_back(static_cast<char>(a.size()));
    self->alpn_wire_ += a;
  }

  for (std::size_t i = 0; i < cfg.certificates.size(); ++i) {
    const config::TlsCertConfig& c = cfg.certificates[i];
    const std::string cpath = path + ".certificates[" + std::to_string(i) + "]";
    auto fail = [&](std::string_view key, std::string message) {
      errors.push_back(
          {c.key_marks.at(key, c.mark), cpath + "." + std::string(key), std::move(message)});
    };
    std::string pem, why;
    if (!read_file(c.cert, pem, why)) {
      fail("cert", "cannot read certificate '" + c.cert + "': " + why);
      continue;
    }
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (leaf == nullptr) {
      fail("cert", "'" + c.cert + "' holds no PEM certificate: " + openssl_error());
      continue;
    }
    std::string key_pem;
    if (!read_file(c.key, key_pem, why)) {
      X509_free(leaf);
      fail("key", "cannot read key '" + c.key + "': " + why);
      continue;
    }
    bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) {
      X509_free(leaf);
      fail("key", "'" + c.key +
                      "' holds no PEM private key (or one with a passphrase): " + openssl_error());
      continue;
    }
    if (X509_check_private_key(leaf, key) != 1) {
      ERR_clear_error();
      X509_free(leaf);
      EVP_PKEY_free(key);
      fail("key", "key '" + c.key + "' does not match certificate '" + c.cert + "'");
      continue;
    }
    const std::vector<std::string> names = cert_names(leaf);
    const int type = EVP_PKEY_get_base_id(key);
    X509_free(leaf);

    Site* site = nullptr;
    for (auto& s : self->sites_) {
      if (s->names == names &&
          std::find(s->key_types.begin(), s->key_types.end(), type) == s->key_types.end()) {
        site = s.get();
      }
    }
    if (site == nullptr) {
      auto s = std::make_unique<Site>();
      s->ctx = SSL_CTX_new(TLS_server_method());
      s->names = names;
      if (s->ctx == nullptr || !configure(s->ctx, cfg, listener, err, self->sites_.empty())) {
        EVP_PKEY_free(key);
        if (s->ctx) SSL_CTX_free(s->ctx);
        return nullptr;  // the settings are wrong for every certificate alike
      }
      SSL_CTX_set_app_data(s->ctx, self.get());
      SSL_CTX_set_tlsext_servername_callback(s->ctx, on_servername);
      SSL_CTX_set_tlsext_servername_arg(s->ctx, self.get());
      SSL_CTX_set_tlsext_status_cb(s->ctx, on_status);
      SSL_CTX_set_tlsext_status_arg(s->ctx, self.get());
      if (!self->alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(s->ctx, on_alpn, self.get());
      self->sites_.push_back(std::move(s));
      site = self->sites_.back().get();
    }
    // The whole chain, leaf first; OpenSSL keeps it with this key type's certificate.
    if (SSL_CTX_use_certificate_chain_file(site->ctx, c.cert.c_str()) != 1) {
      EVP_PKEY_free(key);
      fail("cert", "cannot load the chain of '" + c.cert + "': " + openssl_error());
      continue;
    }
    const int used = SSL_CTX_use_PrivateKey(site->ctx, key);
    EVP_PKEY_free(key);
    if (used != 1 || SSL_CTX_check_private_key(site->ctx) != 1) {
      fail("key", "OpenSSL refused key '" + c.key + "': " + openssl_error());
      continue;
    }
    site->key_types.push_back(type);
    if (!c.ocsp_response.empty()) {
      std::string der;
      if (!read_file(c.ocsp_response, der, why)) {
        fail("ocsp_response", "cannot read OCSP response '" + c.ocsp_response + "': " + why);
        continue;
      }
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      OCSP_RESPONSE* r = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
      if (r == nullptr) {
        ERR_clear_error();
        fail("ocsp_response", "'" + c.ocsp_response + "' is not a DER OCSP response");
        continue;
      }
      OCSP_RESPONSE_free(r);
      site->ocsp.emplace_back(SSL_CTX_get0_certificate(site->ctx), std::move(der));
    }
  }
  if (!err.ok() || self->sites_.empty()) return nullptr;

  for (const auto& s : self->sites_) {
    for (const auto& n : s->names) {
      if (n.starts_with("*.")) {
        self->wildcard_.emplace(n.substr(1), s.get());  // first certificate wins
      } else {
        self->exact_.emplace(n, s.get());
      }
    }
  }
  return self;
}

SSL* ServerContext::new_ssl() const { return SSL_new(sites_.front()->ctx); }

SSL_CTX* ServerContext::select(std::string_view server_name) const {
  char buf[256];
  if (server_name.empty() || server_name.size() >= sizeof buf) return sites_.front()->ctx;
  for (std::size_t i = 0; i < server_name.size(); ++i) {
    buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(server_name[i])));
  }
  const std::string_view name(buf, server_name.size());
  if (auto it = exact_.find(name); it != exact_.end()) return it->second->ctx;
  const std::size_t dot = name.find('.');
  if (dot != std::string_view::npos && dot > 0) {
    if (auto it = wildcard_.find(name.substr(dot)); it != wildcard_.end()) return it->second->ctx;
  }
  return sites_.front()->ctx;
}

const std::vector<std::string>& ServerContext::names_of(const SSL_CTX* ctx) const {
  for (const auto& s : sites_) {
    if (s->ctx == ctx) return s->names;
  }
  static const std::vector<std::string> kNone;
  return kNone;
}

TicketKeys* ServerContext::ticket_keys_of(SSL* ssl) {
  const auto* self = static_cast<const ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  return self ? self->tickets_.get() : nullptr;
}

int ServerContext::on_servername(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  SSL_CTX* ctx = self->select(name);
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_status(SSL* ssl, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const X509* cert = SSL_get_certificate(ssl);  // the one chosen for this client
  for (const auto& s : self->sites_) {
    for (const auto& [leaf, der] : s->ocsp) {
      if (leaf != cert) continue;
      auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(der.data(), der.size()));
      if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
      SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size()));
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int ServerContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                           const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  unsigned char* chosen = nullptr;
  // Server preference: our list first.
  if (SSL_select_next_proto(&chosen, outlen,
                            reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                            static_cast<unsigned int>(self->alpn_wire_.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN, as NGINX does
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace fulcrum::tls
