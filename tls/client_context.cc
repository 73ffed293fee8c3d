#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tls/openssl_text.h"
#include "tls/tls_conn.h"

namespace fulcrum::tls {

namespace {

bool is_ip(std::string_view host) {
  char buf[64];
  if (host.size() >= sizeof buf) return false;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

// A file OpenSSL would fail on with a vague "system lib": say what the system said.
bool readable(const std::string& file, std::string& why) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    why = std::strerror(errno);
    return false;
  }
  std::fclose(f);
  return true;
}

int ex_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::atomic<std::uint64_t> next_id{1};

}  // namespace

SessionCache::~SessionCache() {
  for (auto& e : by_server_) {
    if (e.session != nullptr) SSL_SESSION_free(e.session);
  }
}

SSL_SESSION* SessionCache::get(std::uint32_t server_id, std::uint64_t ctx_id) const {
  if (server_id >= by_server_.size()) return nullptr;
  const Entry& e = by_server_[server_id];
  return e.ctx_id == ctx_id ? e.session : nullptr;
}

void SessionCache::put(std::uint32_t server_id, std::uint64_t ctx_id, SSL_SESSION* s) {
  if (server_id >= by_server_.size()) by_server_.resize(server_id + 1);
  Entry& e = by_server_[server_id];
  if (e.session != nullptr) SSL_SESSION_free(e.session);
  e = {ctx_id, s};
}

void SessionCache::drop(std::uint32_t server_id) {
  if (server_id >= by_server_.size() || by_server_[server_id].session == nullptr) return;
  SSL_SESSION_free(by_server_[server_id].session);
  by_server_[server_id] = {};
}

ClientContext::~ClientContext() {
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

std::shared_ptr<const ClientContext> ClientContext::build(
    const config::UpstreamTlsConfig& cfg, const std::string& path,
    const std::vector<std::string>& alpn, std::vector<config::ConfigError>& errors) {
  const std::size_t before = errors.size();
  auto at_key = [&](std::string_view key, std::string message) {
    errors.push_back(
        {cfg.key_marks.at(key, cfg.mark), path + "." + std::string(key), std::move(message)});
  };
  std::shared_ptr<ClientContext> self(new ClientContext());
  self->ctx_ = SSL_CTX_new(TLS_client_method());
  if (self->ctx_ == nullptr) {
    errors.push_back({cfg.mark, path, "cannot create a TLS context: " + openssl_error()});
    return nullptr;
  }
  SSL_CTX* ctx = self->ctx_;
  self->sni_ = cfg.sni;
  self->verify_ = cfg.verify;
  self->session_reuse_ = cfg.session_reuse;
  self->id_ = next_id.fetch_add(1, std::memory_order_relaxed);

  const auto [lo, hi, gaps] = proto_range(cfg.protocols);
  long options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                 gaps;
  // No tickets asked for when none will be used: fewer records to read on an idle connection.
  if (!cfg.session_reuse) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  if (SSL_CTX_set_min_proto_version(ctx, lo) != 1 || SSL_CTX_set_max_proto_version(ctx, hi) != 1) {
    at_key("protocols", "OpenSSL refused the protocol range: " + openssl_error());
  }
  // Pooled idle connections should cost little: release the record buffers while idle.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  // As for listeners: OpenSSL skips unknown names while another matches, so each is checked.
  for (const auto& t : split_list(cfg.ciphers)) {
    if (t[0] == '!' || t[0] == '-' || t[0] == '+' || t[0] == '@') continue;
    SSL_CTX* probe = SSL_CTX_new(TLS_client_method());
    const bool known = probe && SSL_CTX_set_cipher_list(probe, t.c_str()) == 1;
    SSL_CTX_free(probe);
    ERR_clear_error();
    if (!known) at_key("ciphers", "unknown cipher '" + t + "' (OpenSSL has none by that name)");
  }
  for (const auto& t : split_list(cfg.ciphersuites)) {
    SSL_CTX* probe = SSL_CTX_new(TLS_client_method());
    bool known = probe && SSL_CTX_set_ciphersuites(probe, t.c_str()) == 1;
    if (known) {
      known = false;
      STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(probe);
      for (int i = 0; all && i < sk_SSL_CIPHER_num(all); ++i) {
        known = known || SSL_CIPHER_get_name(sk_SSL_CIPHER_value(all, i)) == t;
      }
    }
    SSL_CTX_free(probe);
    ERR_clear_error();
    if (!known) at_key("ciphersuites", "unknown TLS 1.3 cipher suite '" + t + "'");
  }
  if (errors.size() == before) {
    if (SSL_CTX_set_cipher_list(ctx, cfg.ciphers.c_str()) != 1) {
      at_key("ciphers", "no cipher matches '" + cfg.ciphers + "'");
    }
    if (SSL_CTX_set_ciphersuites(ctx, cfg.ciphersuites.c_str()) != 1) {
      at_key("ciphersuites", "no TLS 1.3 suite matches: " + openssl_error());
    }
  }
  ERR_clear_error();

  std::string why;
  if (!cfg.ca.empty()) {
    if (!readable(cfg.ca, why)) {
      at_key("ca", "cannot read CA bundle '" + cfg.ca + "': " + why);
    } else if (SSL_CTX_load_verify_locations(ctx, cfg.ca.c_str(), nullptr) != 1) {
      at_key("ca", "cannot load CA bundle '" + cfg.ca + "': " + openssl_error());
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    at_key("verify", "cannot load the system's trust store: " + openssl_error());
  }
  SSL_CTX_set_verify(ctx, cfg.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);

  if (!cfg.cert.empty()) {
    if (!readable(cfg.cert, why)) {
      at_key("cert", "cannot read certificate '" + cfg.cert + "': " + why);
    } else if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert.c_str()) != 1) {
      at_key("cert", "cannot load certificate '" + cfg.cert + "': " + openssl_error());
    } else if (!readable(cfg.key, why)) {
      at_key("key", "cannot read key '" + cfg.key + "': " + why);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      // OpenSSL already compares the key with the certificate here.
      const std::string reason = openssl_error();
      at_key("key", reason == "key values mismatch"
                        ? "key '" + cfg.key + "' does not match the certificate '" + cfg.cert + "'"
                        : "cannot load key '" + cfg.key + "': " + reason);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      at_key("key", "key '" + cfg.key + "' does not match the certificate '" + cfg.cert + "'");
    }
  }

  if (!alpn.empty()) {
    std::string wire;
    for (const auto& p : alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    // Returns 0 on success, unlike the rest of OpenSSL.
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    if (alpn.size() == 1 && alpn[0] == "h2") self->required_alpn_ = "h2";
  }

  if (cfg.session_reuse) {
    // Sessions are kept per worker by SessionCache, not in the context (which would need a lock).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &ClientContext::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  ERR_clear_error();
  if (errors.size() != before) return nullptr;
  return self;
}

SSL* ClientContext::new_ssl(std::string_view server_host) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  const std::string name(sni_.empty() ? server_host : std::string_view(sni_));
  if (name.empty()) return ssl;
  const bool ip = is_ip(name);
  if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  return ssl;
}

void ClientContext::attach(SSL* ssl, ClientSide& side) {
  SSL_set_ex_data(ssl, ex_index(), &side);
  if (side.sessions == nullptr || !side.ctx->session_reuse_) return;
  if (SSL_SESSION* s = side.sessions->get(side.server_id, side.ctx->id_)) SSL_set_session(ssl, s);
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* side = static_cast<ClientSide*>(SSL_get_ex_data(ssl, ex_index()));
  if (side == nullptr || side->sessions == nullptr) return 0;
  // A copy: OpenSSL marks the connection's own session not resumable when the connection is
  // freed without a close_notify sent, which is how a server's keep-alive close ends most.
  if (SSL_SESSION* copy = SSL_SESSION_dup(session)) {
    side->sessions->put(side->server_id, side->ctx->id_, copy);
  }
  return 0;  // OpenSSL keeps (and frees) its own reference
}

std::string handshake_failure(const TlsConn& conn) {
  std::string why = conn.error().empty() ? "TLS error" : conn.error();
  SSL* ssl = conn.ssl();
  if (ssl == nullptr) return why;
  const long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) why += std::string(": ") + X509_verify_cert_error_string(v);
  return why;
}

}  // namespace fulcrum::tls
