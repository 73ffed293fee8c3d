// l4/client_hello.h — finds the server_name (SNI) in the first bytes of a TLS connection.
//
// The TCP session peeks (MSG_PEEK) what the client sent and asks whether it holds a whole
// ClientHello yet; the bytes stay in the socket, so they reach the server untouched. Pure
// function, no allocation: a ClientHello split over several records is reassembled in a
// bounded stack buffer. Strict (DESIGN rule 3): what we cannot parse we do not route by.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace fulcrum::l4 {

// Largest ClientHello body we reassemble: one maximal TLS plaintext record (2^14).
inline constexpr std::size_t kMaxClientHello = 16 * 1024;

enum class HelloStatus { kIncomplete, kDone, kNotTls, kInvalid };
struct HelloResult {
  HelloStatus status = HelloStatus::kIncomplete;
  std::array<char, 256> sni{};  // host_name, lower-cased, NUL-free; valid when sni_len > 0
  std::size_t sni_len = 0;      // 0: the ClientHello carried no server_name
  std::string_view server_name() const { return {sni.data(), sni_len}; }
  const char* error = nullptr;
};

// `in` = the first bytes the client sent (peeked, not consumed). Handles a ClientHello split
// over several TLS records and records split anywhere; kNotTls when the first byte is not a
// handshake record (0x16) or the record version is not 3.x; kInvalid for any malformed length,
// truncated vector, non-ClientHello first message, duplicate SNI extension, names > 255 bytes or
// with bytes outside [A-Za-z0-9.-_*]; a ClientHello over kMaxClientHello is kInvalid. Every
// strict prefix of an input that gives kDone gives kIncomplete.
HelloResult peek_client_hello(std::span<const std::uint8_t> in);

}  // namespace fulcrum::l4
