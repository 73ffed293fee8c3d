// tls/openssl_text.h — small text helpers the server and client contexts share when they turn
// configuration into OpenSSL settings and OpenSSL's errors into messages.
#pragma once

#include <string>
#include <vector>

namespace fulcrum::tls {

// The reason of the newest error in OpenSSL's queue (the queue is emptied).
std::string openssl_error();
// "a:b c,d" -> tokens, as OpenSSL's list parsers split them.
std::vector<std::string> split_list(const std::string& s);
// What a configured protocol list means to OpenSSL: the lowest and highest version, and the
// SSL_OP_NO_* options for versions between them that the list leaves out.
struct ProtoRange {
  int lo;
  int hi;
  long gap_options;
};
ProtoRange proto_range(const std::vector<std::string>& protocols);

}  // namespace fulcrum::tls
