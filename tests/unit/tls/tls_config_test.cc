// The tls and hsts listener keys: what the loader accepts, and that to_yaml round-trips them
// (`lbd proxy --tls-cert ... --print-config` output must load back).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

using ::testing::HasSubstr;

std::string with_listener_keys(const std::string& keys) {
  return "listeners:\n  - address: 127.0.0.1:0\n    backend: app\n" + keys +
         "backends:\n  - name: app\n    servers: [127.0.0.1:9]\n";
}

std::string errors_of(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

TEST(TlsConfig, EveryKeyRoundTrips) {
  LoadResult r = load_string(with_listener_keys("    tls:\n"
                                                "      certificates:\n"
                                                "        - { cert: /c/a.pem, key: /c/a.key,"
                                                " ocsp_response: /c/a.ocsp }\n"
                                                "        - { cert: b.pem, key: b.key }\n"
                                                "      protocols: [tls1.3]\n"
                                                "      ciphers: ECDHE+AESGCM\n"
                                                "      ciphersuites: TLS_AES_256_GCM_SHA384\n"
                                                "      curves: X25519\n"
                                                "      session_tickets: false\n"
                                                "      ticket_rotation: 1h\n"
                                                "      session_cache: 0\n"
                                                "      handshake_timeout: 3s\n"
                                                "      client_ca: /c/ca.pem\n"
                                                "      verify_client: optional\n"
                                                "      client_subject_header: X-Subject\n"
                                                "      alpn: [h2, http/1.1]\n"
                                                "    hsts: { max_age: 8760h, include_subdomains:"
                                                " true, preload: true }\n"),
                             "/etc/lbd/t.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  const ListenerConfig& l = r.config->listeners[0];
  ASSERT_TRUE(l.tls.enabled);
  ASSERT_EQ(l.tls.certificates.size(), 2u);
  EXPECT_EQ(l.tls.certificates[1].cert, "/etc/lbd/b.pem");  // relative to the config file
  EXPECT_EQ(l.tls.certificates[0].ocsp_response, "/c/a.ocsp");
  EXPECT_EQ(l.tls.verify_client, TlsConfig::Verify::kOptional);
  EXPECT_EQ(l.tls.curves, std::vector<std::string>{"X25519"});
  EXPECT_TRUE(l.hsts.enabled && l.hsts.preload);

  const std::string yaml = to_yaml(*r.config);
  EXPECT_THAT(yaml, HasSubstr("      verify_client: optional\n"));
  LoadResult again = load_string(yaml, "/etc/lbd/t.yaml");
  ASSERT_TRUE(again.config) << yaml << errors_of(again);
  EXPECT_EQ(*again.config, *r.config) << yaml;

  // Defaults: secure ones, and absent blocks stay absent.
  LoadResult plain = load_string(with_listener_keys(""), "t.yaml");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->listeners[0].tls.enabled);
  EXPECT_THAT(to_yaml(*plain.config), ::testing::Not(HasSubstr("tls:")));
  TlsConfig d;
  EXPECT_EQ(d.protocols, (std::vector<std::string>{"tls1.2", "tls1.3"}));
  EXPECT_EQ(d.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(TlsConfig, MisplacedKeysAreErrors) {
  LoadResult r = load_string(
      "listeners:\n  - address: 127.0.0.1:0\n    mode: tcp\n    backend: app\n"
      "    tls: { certificates: [{ cert: a.pem, key: a.key }] }\n"
      "  - address: 127.0.0.1:1\n    backend: app\n    hsts: { max_age: 1h }\n"
      "backends:\n  - name: app\n    servers: [127.0.0.1:9]\n",
      "t.yaml");
  const std::string e = errors_of(r);
  EXPECT_THAT(e, HasSubstr("t.yaml:5:10: listeners[0].tls: tls applies to mode: http only"));
  EXPECT_THAT(e, HasSubstr("t.yaml:8:11: listeners[1].hsts: hsts applies to tls listeners only"));

  r = load_string(with_listener_keys("    tls:\n      certificates: [{ cert: a.pem, key: a.key }]\n"
                                     "      verify_client: sometimes\n      alpn: [spdy]\n"),
                  "t.yaml");
  EXPECT_THAT(errors_of(r), HasSubstr("expected one of: none, optional, required"));
  EXPECT_THAT(errors_of(r), HasSubstr("expected h2 or http/1.1, got \"spdy\""));
  r = load_string(with_listener_keys("    tls:\n      certificates: [{ cert: a.pem, key: a.key }]\n"
                                     "    hsts: { preload: true }\n"),
                  "t.yaml");
  EXPECT_THAT(errors_of(r), HasSubstr("preload: true needs include_subdomains"));
}

}  // namespace
}  // namespace fulcrum::config
