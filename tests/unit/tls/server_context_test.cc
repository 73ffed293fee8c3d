// The TLS context builder against real certificates made by the openssl CLI: errors point at
// the config line, and SNI picks exact, then wildcard, then the default site.
#include "tls/server_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/loader.h"

namespace fulcrum::tls {
namespace {

namespace fs = std::filesystem;

class Certs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/unit-tls-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const std::string d = *dir_;
    auto sh = [](const std::string& cmd) {
      ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
    };
    auto self_signed = [&](const std::string& name, const std::string& alg,
                           const std::string& san) {
      sh("openssl req -x509 -newkey " + alg + " -nodes -days 2 -keyout " + d + "/" + name +
         ".key -out " + d + "/" + name + ".pem -subj /CN=" + name +
         " -addext subjectAltName=" + san);
    };
    self_signed("a-ec", "ec -pkeyopt ec_paramgen_curve:P-256", "DNS:a.test");
    self_signed("a-rsa", "rsa:2048", "DNS:a.test");
    self_signed("b-ec", "ec -pkeyopt ec_paramgen_curve:P-256", "DNS:*.b.test");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  // Loads a one-listener config whose tls block is `tls` (indented under `tls:`), then builds
  // its context; errors of both steps go to errors_.
  std::shared_ptr<const ServerContext> build(const std::string& tls) {
    const std::string yaml =
        "listeners:\n"
        "  - address: 127.0.0.1:0\n"
        "    backend: app\n"
        "    tls:\n" +
        tls +
        "backends:\n"
        "  - name: app\n"
        "    servers: [127.0.0.1:9]\n";
    auto r = config::load_string(yaml, *dir_ + "/t.yaml");
    errors_ = r.errors;
    if (!r.config) return nullptr;
    return ServerContext::build(r.config->listeners[0].tls, "web", "listeners[0].tls", false,
                                errors_);
  }
  std::string first_error() const {
    return errors_.empty() ? "(none)" : errors_.front().to_string();
  }

  static std::string* dir_;
  std::vector<config::ConfigError> errors_;
};
std::string* Certs::dir_ = nullptr;

TEST_F(Certs, SniPicksExactThenWildcardThenTheFirst) {
  auto ctx = build(
      "      certificates:\n"
      "        - { cert: a-ec.pem, key: a-ec.key }\n"    // relative: to the config file
      "        - { cert: a-rsa.pem, key: a-rsa.key }\n"  // same name, RSA: the same site
      "        - { cert: b-ec.pem, key: b-ec.key }\n");
  ASSERT_TRUE(ctx) << first_error();
  EXPECT_EQ(ctx->site_count(), 2u);
  const std::vector<std::string> a{"a.test"}, b{"*.b.test"};
  EXPECT_EQ(ctx->names_of(ctx->select("a.test")), a);
  EXPECT_EQ(ctx->names_of(ctx->select("A.Test")), a);
  EXPECT_EQ(ctx->names_of(ctx->select("x.b.test")), b);
  EXPECT_EQ(ctx->names_of(ctx->select("X.B.TEST")), b);
  // A wildcard covers one label only, as certificate matching does.
  EXPECT_EQ(ctx->names_of(ctx->select("x.y.b.test")), a);
  EXPECT_EQ(ctx->names_of(ctx->select("b.test")), a);
  EXPECT_EQ(ctx->names_of(ctx->select("unknown.example")), a);
  EXPECT_EQ(ctx->names_of(ctx->select("")), a);
}

TEST_F(Certs, AKeyThatDoesNotMatchItsCertificateIsAnErrorAtItsLine) {
  EXPECT_FALSE(
      build("      certificates:\n"
            "        - cert: a-ec.pem\n"
            "          key: b-ec.key\n"));
  ASSERT_EQ(errors_.size(), 1u) << first_error();
  EXPECT_EQ(errors_[0].mark.line, 7);  // the key: line
  EXPECT_EQ(errors_[0].path, "listeners[0].tls.certificates[0].key");
  EXPECT_NE(errors_[0].message.find("does not match certificate"), std::string::npos);
}

TEST_F(Certs, AMissingFileIsAnErrorAtItsLine) {
  EXPECT_FALSE(
      build("      certificates:\n"
            "        - cert: nope.pem\n"
            "          key: a-ec.key\n"));
  ASSERT_EQ(errors_.size(), 1u) << first_error();
  EXPECT_EQ(errors_[0].mark.line, 6);  // the cert: line
  EXPECT_NE(errors_[0].message.find("cannot read certificate"), std::string::npos);
  EXPECT_NE(errors_[0].message.find("No such file"), std::string::npos);
}

TEST_F(Certs, UnknownCipherCurveAndSuiteNamesAreErrors) {
  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      ciphers: ECDHE+AESGCM:NOT-A-CIPHER\n"));
  ASSERT_EQ(errors_.size(), 1u) << first_error();
  EXPECT_EQ(errors_[0].mark.line, 6);
  EXPECT_NE(errors_[0].message.find("unknown cipher 'NOT-A-CIPHER'"), std::string::npos);

  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      curves: [X25519, P-999]\n"));
  ASSERT_EQ(errors_.size(), 1u) << first_error();
  EXPECT_NE(errors_[0].message.find("unknown curve 'P-999'"), std::string::npos);

  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      ciphersuites: TLS_AES_128_GCM_SHA256:TLS_NOPE\n"));
  ASSERT_EQ(errors_.size(), 1u) << first_error();
  EXPECT_NE(errors_[0].message.find("'TLS_NOPE'"), std::string::npos);
}

TEST_F(Certs, LoaderChecksTheTlsKeys) {
  EXPECT_FALSE(build("      certificates: []\n"));
  EXPECT_NE(first_error().find("expected at least one certificate"), std::string::npos);
  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      protocols: [tls1.2, tls1.4]\n"));
  EXPECT_NE(first_error().find("t.yaml:6:"), std::string::npos) << first_error();
  EXPECT_NE(first_error().find("got \"tls1.4\""), std::string::npos) << first_error();
  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      verify_client: required\n"));
  EXPECT_NE(first_error().find("needs client_ca"), std::string::npos) << first_error();
  EXPECT_FALSE(build("      certificates: [{ cert: a-ec.pem }]\n"));
  EXPECT_NE(first_error().find("missing key:"), std::string::npos) << first_error();
  EXPECT_FALSE(
      build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n"
            "      handshake_timeout: 0s\n"));
  EXPECT_NE(first_error().find("handshake_timeout: expected more than 0"), std::string::npos)
      << first_error();
}

TEST_F(Certs, SecureDefaults) {
  auto ctx = build("      certificates: [{ cert: a-ec.pem, key: a-ec.key }]\n");
  ASSERT_TRUE(ctx) << first_error();
  SSL* ssl = ctx->new_ssl();
  ASSERT_NE(ssl, nullptr);
  EXPECT_EQ(SSL_get_min_proto_version(ssl), TLS1_2_VERSION);
  const auto opts = SSL_get_options(ssl);
  EXPECT_TRUE(opts & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(opts & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_TRUE(SSL_get_mode(ssl) & SSL_MODE_RELEASE_BUFFERS);
  // Every TLS 1.2 suite is forward secret (ECDHE) and AEAD.
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
  ASSERT_GT(sk_SSL_CIPHER_num(ciphers), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any) continue;  // TLS 1.3: always ECDHE + AEAD
    EXPECT_EQ(SSL_CIPHER_get_kx_nid(c), NID_kx_ecdhe) << SSL_CIPHER_get_name(c);
    EXPECT_TRUE(SSL_CIPHER_is_aead(c)) << SSL_CIPHER_get_name(c);
  }
  SSL_free(ssl);
}

}  // namespace
}  // namespace fulcrum::tls
