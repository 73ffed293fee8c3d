// tls/ticket_keys.h — the session-ticket keys of one listener, shared by all workers.
//
// Keys rotate every `period`: a new key encrypts, the one before still decrypts (a ticket made
// just before a rotation stays good for one more period, and such a ticket is renewed). The
// ring lives as long as the listener's name, across reloads, so a reload does not void every
// client's ticket.
//
// Locking: a reader lock (std::shared_mutex) only while a ticket is made or opened — a few
// per handshake, never per request; the writer lock is taken by whichever handshake first sees
// the current key expired, and rotation is a copy of 80 bytes. No timer thread is needed.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace fulcrum::tls {

class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
  };

  explicit TicketKeys(std::chrono::milliseconds period);

  // The callback of SSL_CTX_set_tlsext_ticket_key_evp_cb: finds the ring through the SSL's
  // session context (see ServerContext).
  static int callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                      EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

  void set_period(std::chrono::milliseconds p);
  // Forces a rotation now (tests; an operator who fears a key leaked).
  void rotate();
  // Ring of the listener `name`, made on first use (control thread).
  static std::shared_ptr<TicketKeys> for_listener(const std::string& name,
                                                  std::chrono::milliseconds period);

 private:
  using Clock = std::chrono::steady_clock;
  void rotate_locked(Clock::time_point now);
  // Copies the key to encrypt with, rotating first if it has expired.
  Key current();
  // 1: `out` is the current key; 2: the previous one (renew the ticket); 0: unknown.
  int find(const unsigned char* name, Key& out);

  std::shared_mutex mu_;
  Key cur_, prev_;
  bool have_prev_ = false;
  Clock::time_point expires_;
  std::chrono::milliseconds period_;
};

}  // namespace fulcrum::tls
