// The `tls` and `hsts` keys of a listener. Names OpenSSL decides (ciphers, curves) are checked
// when the contexts are built (tls/server_context.cc), which reports them at these marks.
#include <algorithm>
#include <cctype>
#include <limits>

#include "config/text.h"
#include "config/walker.h"

namespace fulcrum::config::detail {

namespace {

// The file names are kept as written; relative ones are resolved against the config file's
// directory, so a config and its certificates can move together.
std::string resolve(const std::string& file, const std::string& name) {
  if (name.empty() || name.front() == '/') return name;
  const std::size_t slash = file.rfind('/');
  if (slash == std::string::npos || file.front() == '<') return name;
  return file.substr(0, slash + 1) + name;
}

}  // namespace

// A certificate, key or CA file, relative to the config file's directory.
void Walker::file_path(const Field& f, std::string& dst) {
  if (auto t = text(f, "expected a file path")) {
    if (t->empty()) return error(f.mark, f.path, "expected a file path, got an empty string");
    dst = resolve(file_, *t);
  }
}

void Walker::read_tls(const Field& f, TlsConfig& out) {
  out.enabled = true;
  out.mark = f.mark;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (certificates:, protocols:, ...), got ") +
              kind_name(f.value));
    return;
  }
  for_each_field(
      f.value, f.path,
      {"certificates", "protocols", "ciphers", "ciphersuites", "curves", "session_tickets",
       "ticket_rotation", "session_cache", "handshake_timeout", "client_ca", "verify_client",
       "client_subject_header", "alpn"},
      out.key_marks, [&](const Field& g) {
        if (g.key == "certificates") {
          if (!expect_list(g, "certificates ({cert:, key:})")) return;
          for_each_item(g, [&](const Field& item, size_t) {
            TlsCertConfig c;
            c.mark = item.mark;
            if (!item.value.IsMap()) {
              error(item.mark, item.path,
                    std::string("expected a certificate (a mapping with cert: and key:), got ") +
                        kind_name(item.value));
              return;
            }
            for_each_field(item.value, item.path, {"cert", "key", "ocsp_response"}, c.key_marks,
                           [&](const Field& h) {
                             if (h.key == "cert") {
                               file_path(h, c.cert);
                             } else if (h.key == "key") {
                               file_path(h, c.key);
                             } else {
                               file_path(h, c.ocsp_response);
                             }
                           });
            if (c.cert.empty() && !c.key_marks.by_key.contains("cert")) {
              error(item.mark, item.path, "missing cert: (the certificate chain, PEM)");
            }
            if (c.key.empty() && !c.key_marks.by_key.contains("key")) {
              error(item.mark, item.path, "missing key: (the certificate's private key, PEM)");
            }
            out.certificates.push_back(std::move(c));
          });
        } else if (g.key == "protocols") {
          out.protocols.clear();
          read_texts(g, "protocols", "a protocol (tls1.2, tls1.3)", true, out.protocols);
          for (std::size_t i = 0; i < out.protocols.size(); ++i) {
            const std::string& p = out.protocols[i];
            if (p != "tls1.0" && p != "tls1.1" && p != "tls1.2" && p != "tls1.3") {
              const std::string path = g.path + "[" + std::to_string(i) + "]";
              error(marks[path], path,
                    "expected one of: tls1.0, tls1.1, tls1.2, tls1.3, got " + quote(p));
            }
          }
          if (out.protocols.empty()) error(g.mark, g.path, "expected at least one protocol");
        } else if (g.key == "ciphers") {
          if (auto t = text(g, "expected an OpenSSL cipher list")) out.ciphers = *t;
        } else if (g.key == "ciphersuites") {
          if (auto t = text(g, "expected TLS 1.3 suites separated by ':'")) out.ciphersuites = *t;
        } else if (g.key == "curves") {
          out.curves.clear();
          read_texts(g, "curves", "a curve name (X25519, P-256, ...)", true, out.curves);
        } else if (g.key == "session_tickets") {
          read_bool(g, out.session_tickets);
        } else if (g.key == "ticket_rotation") {
          read_duration(g, out.ticket_rotation);
          if (out.ticket_rotation < std::chrono::seconds(1)) {
            error(g.mark, g.path, "expected at least 1s");
          }
        } else if (g.key == "session_cache") {
          read_uint(g, 0, std::numeric_limits<std::uint32_t>::max(), out.session_cache);
        } else if (g.key == "handshake_timeout") {
          read_duration(g, out.handshake_timeout);
          if (out.handshake_timeout.count() <= 0) error(g.mark, g.path, "expected more than 0");
        } else if (g.key == "client_ca") {
          file_path(g, out.client_ca);
        } else if (g.key == "verify_client") {
          constexpr std::string_view kWant = "expected one of: none, optional, required";
          auto t = text(g, kWant);
          if (!t) return;
          if (*t == "none") {
            out.verify_client = TlsConfig::Verify::kNone;
          } else if (*t == "optional") {
            out.verify_client = TlsConfig::Verify::kOptional;
          } else if (*t == "required") {
            out.verify_client = TlsConfig::Verify::kRequired;
          } else {
            bad_value(g, kWant, *t);
          }
        } else if (g.key == "client_subject_header") {
          read_name(g, out.client_subject_header);
        } else if (g.key == "alpn") {
          out.alpn.clear();
          read_texts(g, "protocols", "a protocol (h2, http/1.1)", true, out.alpn);
          for (std::size_t i = 0; i < out.alpn.size(); ++i) {
            if (out.alpn[i] != "h2" && out.alpn[i] != "http/1.1") {
              const std::string path = g.path + "[" + std::to_string(i) + "]";
              error(marks[path], path, "expected h2 or http/1.1, got " + quote(out.alpn[i]));
            }
          }
        }
      });
  if (out.certificates.empty() && !out.key_marks.by_key.contains("certificates")) {
    error(f.mark, f.path, "missing certificates: (at least one {cert:, key:})");
  } else if (out.certificates.empty() && out.key_marks.by_key.contains("certificates")) {
    error(out.key_marks.at("certificates", f.mark), f.path + ".certificates",
          "expected at least one certificate");
  }
  if (out.verify_client != TlsConfig::Verify::kNone && out.client_ca.empty()) {
    error(out.key_marks.at("verify_client", f.mark), f.path + ".verify_client",
          "verifying clients needs client_ca: (the CA bundle their certificates chain to)");
  }
  if (!out.client_subject_header.empty() && out.verify_client == TlsConfig::Verify::kNone) {
    error(out.key_marks.at("client_subject_header", f.mark), f.path + ".client_subject_header",
          "needs verify_client: required or optional (there is no verified subject otherwise)");
  }
}

// A backend's `tls`: lbd as the TLS client of its servers. Files are read and checked (CA
// bundle, certificate and key, cipher names) when the client context is built
// (tls/client_context.cc), which reports them at these marks.
void Walker::read_upstream_tls(const Field& f, UpstreamTlsConfig& out) {
  out.enabled = true;  // `tls:` alone: verified against the system's trust store
  out.mark = f.mark;
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (ca:, verify:, sni:, cert:, key:, ...), got ") +
              kind_name(f.value));
    return;
  }
  for_each_field(f.value, f.path,
                 {"ca", "verify", "sni", "cert", "key", "protocols", "ciphers", "ciphersuites",
                  "session_reuse"},
                 out.key_marks, [&](const Field& g) {
                   if (g.key == "ca") {
                     file_path(g, out.ca);
                   } else if (g.key == "verify") {
                     read_bool(g, out.verify);
                   } else if (g.key == "sni") {
                     auto t = text(g, "expected a server name like api.internal");
                     if (!t) return;
                     const bool ok = !t->empty() && std::all_of(t->begin(), t->end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                              c == '_' || c == ':';
                     });
                     if (!ok) return bad_value(g, "expected a server name like api.internal", *t);
                     out.sni = *t;
                   } else if (g.key == "cert") {
                     file_path(g, out.cert);
                   } else if (g.key == "key") {
                     file_path(g, out.key);
                   } else if (g.key == "protocols") {
                     out.protocols.clear();
                     read_texts(g, "protocols", "a protocol (tls1.2, tls1.3)", true, out.protocols);
                     for (std::size_t i = 0; i < out.protocols.size(); ++i) {
                       const std::string& p = out.protocols[i];
                       if (p != "tls1.0" && p != "tls1.1" && p != "tls1.2" && p != "tls1.3") {
                         const std::string path = g.path + "[" + std::to_string(i) + "]";
                         error(marks[path], path,
                               "expected one of: tls1.0, tls1.1, tls1.2, tls1.3, got " + quote(p));
                       }
                     }
                     if (out.protocols.empty())
                       error(g.mark, g.path, "expected at least one protocol");
                   } else if (g.key == "ciphers") {
                     if (auto t = text(g, "expected an OpenSSL cipher list")) out.ciphers = *t;
                   } else if (g.key == "ciphersuites") {
                     if (auto t = text(g, "expected TLS 1.3 suites separated by ':'"))
                       out.ciphersuites = *t;
                   } else if (g.key == "session_reuse") {
                     read_bool(g, out.session_reuse);
                   }
                 });
  // One without the other cannot sign a handshake; saying so beats a failure at every connect.
  const bool cert = out.key_marks.by_key.contains("cert");
  const bool key = out.key_marks.by_key.contains("key");
  if (cert && !key) {
    error(out.key_marks.at("cert", f.mark), f.path + ".key",
          "a client certificate needs key: (its private key, PEM)");
  } else if (key && !cert) {
    error(out.key_marks.at("key", f.mark), f.path + ".cert",
          "key: needs cert: (the client certificate chain it belongs to, PEM)");
  }
}

void Walker::read_hsts(const Field& f, HstsConfig& out) {
  out.enabled = true;
  out.mark = f.mark;
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (max_age:, include_subdomains:, preload:), got ") +
              kind_name(f.value));
    return;
  }
  KeyMarks unused;
  for_each_field(f.value, f.path, {"max_age", "include_subdomains", "preload"}, unused,
                 [&](const Field& g) {
                   if (g.key == "max_age") {
                     read_duration(g, out.max_age);
                   } else if (g.key == "include_subdomains") {
                     read_bool(g, out.include_subdomains);
                   } else {
                     read_bool(g, out.preload);
                   }
                 });
  // Browsers' preload list requires a year and subdomains (hstspreload.org).
  if (out.preload && (!out.include_subdomains || out.max_age < std::chrono::hours(24 * 365))) {
    error(f.mark, f.path, "preload: true needs include_subdomains: true and max_age of 1y or more");
  }
}

}  // namespace fulcrum::config::detail
