// A backend's `tls` block: what the loader accepts and refuses (with the line), that to_yaml
// round-trips it, and the client context builder against real files made by the openssl CLI
// (unreadable files, a key that does not match, unknown ciphers, the names set on each SSL).
#include "tls/client_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "config/loader.h"

namespace fulcrum::tls {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A config whose backend `app` has the tls block `tls` (indented under `tls:`) on line 7 on.
std::string backend_tls(const std::string& tls, const std::string& listener_mode = "http") {
  return "listeners:\n"
         "  - address: 127.0.0.1:0\n"
         "    mode: " +
         listener_mode +
         "\n"
         "    backend: app\n"
         "backends:\n"
         "  - name: app\n"
         "    tls:\n" +
         tls + "    servers: [127.0.0.1:9]\n";
}

std::string errors_of(const config::LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.to_string() + "\n";
  return out;
}

TEST(UpstreamTlsConfig, ReadsEachKeyAndRoundTrips) {
  const config::LoadResult r =
      config::load_string(backend_tls("      ca: ca.pem\n"
                                      "      verify: false\n"
                                      "      sni: api.internal\n"
                                      "      cert: client.pem\n"
                                      "      key: /keys/client.key\n"
                                      "      protocols: tls1.3\n"
                                      "      ciphers: ECDHE+AESGCM\n"
                                      "      ciphersuites: TLS_AES_256_GCM_SHA384\n"
                                      "      session_reuse: false\n"),
                          "/etc/lbd/t.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  const config::UpstreamTlsConfig& t = r.config->backends[0].tls;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.ca, "/etc/lbd/ca.pem");  // relative to the config file
  EXPECT_FALSE(t.verify);
  EXPECT_EQ(t.sni, "api.internal");
  EXPECT_EQ(t.cert, "/etc/lbd/client.pem");
  EXPECT_EQ(t.key, "/keys/client.key");
  EXPECT_EQ(t.protocols, std::vector<std::string>{"tls1.3"});
  EXPECT_EQ(t.ciphers, "ECDHE+AESGCM");
  EXPECT_EQ(t.ciphersuites, "TLS_AES_256_GCM_SHA384");
  EXPECT_FALSE(t.session_reuse);

  const std::string yaml = config::to_yaml(*r.config);
  EXPECT_THAT(yaml, HasSubstr("    tls:\n      ca: /etc/lbd/ca.pem\n      verify: false\n"));
  const config::LoadResult again = config::load_string(yaml, "/etc/lbd/t.yaml");
  ASSERT_TRUE(again.config) << yaml << errors_of(again);
  EXPECT_EQ(*again.config, *r.config) << yaml;
}

TEST(UpstreamTlsConfig, DefaultsAndAbsence) {
  const config::LoadResult plain = config::load_string(
      "listeners:\n  - address: 127.0.0.1:0\n    backend: app\n"
      "backends:\n  - name: app\n    servers: [127.0.0.1:9]\n",
      "t.yaml");
  ASSERT_TRUE(plain.config);
  EXPECT_FALSE(plain.config->backends[0].tls.enabled);
  EXPECT_THAT(config::to_yaml(*plain.config), ::testing::Not(HasSubstr("tls:")));

  // `tls:` alone: on, verified against the system's store, sessions reused.
  const config::LoadResult bare = config::load_string(
      "listeners:\n  - address: 127.0.0.1:0\n    backend: app\n"
      "backends:\n  - name: app\n    tls:\n    servers: [127.0.0.1:9]\n",
      "t.yaml");
  ASSERT_TRUE(bare.config) << errors_of(bare);
  const config::UpstreamTlsConfig& t = bare.config->backends[0].tls;
  EXPECT_TRUE(t.enabled);
  EXPECT_TRUE(t.verify);
  EXPECT_TRUE(t.ca.empty());
  EXPECT_TRUE(t.session_reuse);
  EXPECT_EQ(t.protocols, (std::vector<std::string>{"tls1.2", "tls1.3"}));
  const config::LoadResult again = config::load_string(config::to_yaml(*bare.config), "t.yaml");
  ASSERT_TRUE(again.config) << errors_of(again);
  EXPECT_EQ(again.config->backends[0].tls, t);
}

TEST(UpstreamTlsConfig, MistakesNameTheLine) {
  auto first = [](const std::string& yaml) {
    const config::LoadResult r = config::load_string(yaml, "t.yaml");
    EXPECT_FALSE(r.config) << yaml;
    return r.errors.empty() ? std::string("(none)") : r.errors.front().to_string();
  };
  EXPECT_EQ(first(backend_tls("      protocols: [tls1.2, ssl3]\n")),
            "t.yaml:8:27: backends[0].tls.protocols[1]: expected one of: tls1.0, tls1.1, tls1.2, "
            "tls1.3, got \"ssl3\"");
  EXPECT_THAT(first(backend_tls("      cert: c.pem\n")),
              HasSubstr("t.yaml:8:13: backends[0].tls.key: a client certificate needs key:"));
  EXPECT_THAT(first(backend_tls("      key: c.key\n")),
              HasSubstr("backends[0].tls.cert: key: needs cert:"));
  EXPECT_THAT(first(backend_tls("      sni: \"bad name\"\n")),
              HasSubstr("t.yaml:8:12: backends[0].tls.sni: expected a server name"));
  EXPECT_THAT(first(backend_tls("      verfy: false\n")),
              HasSubstr("unknown key 'verfy'; did you mean 'verify'?"));
  EXPECT_THAT(first(backend_tls("      verify: true\n", "tcp")),
              HasSubstr("t.yaml:8:7: backends[0].tls: backend 'app' serves the tcp listener"));
}

class ClientCerts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/unit-ctls-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const std::string d = *dir_;
    for (const char* name : {"one", "two"}) {
      const std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
          "-nodes -days 2 -keyout " +
          d + "/" + name + ".key -out " + d + "/" + name + ".pem -subj /CN=" + name +
          " >/dev/null 2>&1";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  std::shared_ptr<const ClientContext> build(const std::string& tls) {
    auto r = config::load_string(backend_tls(tls), *dir_ + "/t.yaml");
    errors_ = r.errors;
    if (!r.config) return nullptr;
    return ClientContext::build(r.config->backends[0].tls, "backends[0].tls", {"http/1.1"},
                                errors_);
  }
  std::string first_error() const {
    return errors_.empty() ? "(none)" : errors_.front().to_string();
  }

  static std::string* dir_;
  std::vector<config::ConfigError> errors_;
};
std::string* ClientCerts::dir_ = nullptr;

TEST_F(ClientCerts, BuildsWithACaAndAClientCertificate) {
  auto ctx = build("      ca: one.pem\n      cert: two.pem\n      key: two.key\n");
  ASSERT_TRUE(ctx) << first_error();
  EXPECT_TRUE(ctx->session_reuse());
  EXPECT_TRUE(ctx->required_alpn().empty());
  auto other = build("      ca: one.pem\n");
  ASSERT_TRUE(other);
  EXPECT_NE(ctx->id(), other->id());  // sessions of one never resume on the other
}

TEST_F(ClientCerts, FileErrorsPointAtTheKey) {
  EXPECT_FALSE(build("      ca: missing.pem\n"));
  EXPECT_EQ(first_error(), *dir_ + "/t.yaml:8:11: backends[0].tls.ca: cannot read CA bundle '" +
                               *dir_ + "/missing.pem': No such file or directory");
  EXPECT_FALSE(build("      cert: one.pem\n      key: two.key\n"));
  EXPECT_EQ(first_error(), *dir_ + "/t.yaml:9:12: backends[0].tls.key: key '" + *dir_ +
                               "/two.key' does not match the certificate '" + *dir_ + "/one.pem'");
  EXPECT_FALSE(build("      ca: one.key\n"));  // not a certificate
  EXPECT_THAT(first_error(), HasSubstr("backends[0].tls.ca: cannot load CA bundle"));
}

TEST_F(ClientCerts, UnknownCiphersAreNamed) {
  EXPECT_FALSE(build("      ciphers: ECDHE+AESGCM:NO-SUCH-CIPHER\n"));
  EXPECT_THAT(first_error(), HasSubstr("t.yaml:8:16: backends[0].tls.ciphers: unknown cipher "
                                       "'NO-SUCH-CIPHER'"));
  EXPECT_FALSE(build("      ciphersuites: TLS_AES_128_GCM_SHA256:TLS_NOPE\n"));
  EXPECT_THAT(first_error(), HasSubstr("unknown TLS 1.3 cipher suite 'TLS_NOPE'"));
}

TEST_F(ClientCerts, NamesSetOnEachConnection) {
  auto ctx = build("      ca: one.pem\n");
  ASSERT_TRUE(ctx) << first_error();
  // A DNS name: sent as SNI and verified as a host name.
  SSL* ssl = ctx->new_ssl("api.test");
  ASSERT_NE(ssl, nullptr);
  EXPECT_STREQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "api.test");
  EXPECT_STREQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "api.test");
  SSL_free(ssl);
  // An IP: no SNI, the IP is verified.
  ssl = ctx->new_ssl("127.0.0.1");
  ASSERT_NE(ssl, nullptr);
  EXPECT_EQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), nullptr);
  EXPECT_EQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), nullptr);
  char* ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
  EXPECT_STREQ(ip, "127.0.0.1");
  OPENSSL_free(ip);
  SSL_free(ssl);
  // A configured sni wins over the server's address.
  auto named = build("      ca: one.pem\n      sni: svc.internal\n");
  ASSERT_TRUE(named);
  ssl = named->new_ssl("10.0.0.1");
  EXPECT_STREQ(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "svc.internal");
  SSL_free(ssl);
  // verify: false: nothing is checked, SNI still goes.
  auto loose = build("      verify: false\n      sni: svc.internal\n");
  ASSERT_TRUE(loose);
  ssl = loose->new_ssl("10.0.0.1");
  EXPECT_EQ(SSL_get_verify_mode(ssl), SSL_VERIFY_NONE);
  EXPECT_EQ(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), nullptr);
  SSL_free(ssl);
}

TEST(SessionCache, KeepsTheNewestPerServerAndContext) {
  SessionCache cache;
  EXPECT_EQ(cache.get(3, 1), nullptr);
  SSL_SESSION* a = SSL_SESSION_new();
  SSL_SESSION* b = SSL_SESSION_new();
  cache.put(3, 1, a);
  EXPECT_EQ(cache.get(3, 1), a);
  EXPECT_EQ(cache.get(3, 2), nullptr);  // another context (a reload): not offered
  EXPECT_EQ(cache.get(0, 1), nullptr);
  cache.put(3, 1, b);  // replaces (and frees) a
  EXPECT_EQ(cache.get(3, 1), b);
  cache.drop(3);
  EXPECT_EQ(cache.get(3, 1), nullptr);
}

}  // namespace
}  // namespace fulcrum::tls
