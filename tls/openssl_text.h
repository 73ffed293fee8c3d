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
// A validated protocol name ("tls1.0" .. "tls1.3") as OpenSSL's version constant.
int proto_version(const std::string& p);

}  // namespace fulcrum::tls
