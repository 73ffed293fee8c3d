#include "tls/openssl_text.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

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

int proto_version(const std::string& p) {
  if (p == "tls1.0") return TLS1_VERSION;
  if (p == "tls1.1") return TLS1_1_VERSION;
  if (p == "tls1.2") return TLS1_2_VERSION;
  return TLS1_3_VERSION;
}

}  // namespace fulcrum::tls
