#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <map>

#include "tls/server_context.h"

namespace fulcrum::tls {

TicketKeys::TicketKeys(std::chrono::milliseconds period) : period_(period) {
  std::unique_lock lock(mu_);
  rotate_locked(Clock::now());
  have_prev_ = false;
}

void TicketKeys::rotate_locked(Clock::time_point now) {
  Key k;
  if (RAND_bytes(k.name.data(), k.name.size()) != 1 ||
      RAND_priv_bytes(k.aes.data(), k.aes.size()) != 1 ||
      RAND_priv_bytes(k.hmac.data(), k.hmac.size()) != 1) {
    // Without fresh randomness the old key stays (tickets keep working); retried next time.
    expires_ = now + std::chrono::seconds(1);
    return;
  }
  prev_ = cur_;
  have_prev_ = true;
  cur_ = k;
  expires_ = now + period_;
}

void TicketKeys::rotate() {
  std::unique_lock lock(mu_);
  rotate_locked(Clock::now());
}

void TicketKeys::set_period(std::chrono::milliseconds p) {
  std::unique_lock lock(mu_);
  if (p < period_) expires_ = std::min(expires_, Clock::now() + p);
  period_ = p;
}

TicketKeys::Key TicketKeys::current() {
  const auto now = Clock::now();
  {
    std::shared_lock lock(mu_);
    if (now < expires_) return cur_;
  }
  std::unique_lock lock(mu_);
  if (now >= expires_) rotate_locked(now);  // another handshake may have rotated meanwhile
  return cur_;
}

int TicketKeys::find(const unsigned char* name, Key& out) {
  std::shared_lock lock(mu_);
  if (std::memcmp(name, cur_.name.data(), cur_.name.size()) == 0) {
    out = cur_;
    return 1;
  }
  if (have_prev_ && std::memcmp(name, prev_.name.data(), prev_.name.size()) == 0) {
    out = prev_;
    return 2;
  }
  return 0;
}

int TicketKeys::callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  TicketKeys* ring = ServerContext::ticket_keys_of(ssl);
  if (ring == nullptr) return -1;
  Key k;
  int result = 1;
  if (enc == 1) {
    k = ring->current();
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    std::memcpy(key_name, k.name.data(), k.name.size());
  } else {
    result = ring->find(key_name, k);
    if (result == 0) return 0;  // unknown key (rotated out, or another server's): full handshake
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac.data(), k.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  const int ok = enc == 1
                     ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv)
                     : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv);
  OPENSSL_cleanse(&k, sizeof k);
  return ok == 1 ? result : -1;
}

std::shared_ptr<TicketKeys> TicketKeys::for_listener(const std::string& name,
                                                     std::chrono::milliseconds period) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<TicketKeys>> rings;
  std::lock_guard lock(mu);
  auto& ring = rings[name];
  if (!ring) {
    ring = std::make_shared<TicketKeys>(period);
  } else {
    ring->set_period(period);
  }
  return ring;
}

}  // namespace fulcrum::tls
