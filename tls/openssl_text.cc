#include "tls/openssl_text.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <utility>

namespace fulcrum::tls {

std::string openssl_error() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(last);
  return reason ? reason : "OpenSSL error " + std::to_string(last);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ':' || c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

namespace {
// A validated protocol name ("tls1.0" .. "tls1.3") as OpenSSL's version constant.
int proto_version(const std::string& p) {
  if (p == "tls1.0") return TLS1_VERSION;
  if (p == "tls1.1") return TLS1_1_VERSION;
  if (p == "tls1.2") return TLS1_2_VERSION;
  return TLS1_3_VERSION;
}
}  // namespace

ProtoRange proto_range(const std::vector<std::string>& protocols) {
  ProtoRange r{TLS1_3_VERSION, TLS1_VERSION, 0};
  for (const auto& p : protocols) {
    r.lo = std::min(r.lo, proto_version(p));
    r.hi = std::max(r.hi, proto_version(p));
  }
  const std::pair<const char*, long> gaps[] = {{"tls1.1", SSL_OP_NO_TLSv1_1},
                                               {"tls1.2", SSL_OP_NO_TLSv1_2}};
  for (const auto& [name, op] : gaps) {
    const int v = proto_version(name);
    if (v > r.lo && v < r.hi &&
        std::find(protocols.begin(), protocols.end(), name) == protocols.end()) {
      r.gap_options |= op;
    }
  }
  return r;
}

}  // namespace fulcrum::tls
