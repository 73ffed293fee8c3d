// The listener's `http2:` block: defaults, each key, range errors at file:line, mode checks and
// the round trip through to_yaml().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"

namespace fulcrum::config {
namespace {

using ::testing::HasSubstr;

std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.to_string() + "\n";
  return out;
}

std::string listener_with(std::string_view extra, std::string_view mode = "http") {
  return "listeners:\n  - address: 127.0.0.1:8080\n    mode: " + std::string(mode) +
         "\n    backend: app\n" + std::string(extra) +
         "backends:\n  - name: app\n    servers: [127.0.0.1:9001]\n";
}

TEST(Http2Config, DefaultsWhenAbsent) {
  LoadResult r = load_string(listener_with(""), "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  const Http2Config& h = r.config->listeners.at(0).http2;
  EXPECT_FALSE(h.h2c);
  EXPECT_EQ(h.max_concurrent_streams, 100u);
  EXPECT_EQ(h.max_header_list_size, 64u * 1024);
  EXPECT_EQ(h.initial_window_size, 64u * 1024);
  EXPECT_EQ(h.max_frame_size, 16u * 1024);
}

TEST(Http2Config, ReadsEachKeyAndRoundTrips) {
  LoadResult r = load_string(listener_with("    http2: { h2c: true, max_concurrent_streams: 50, "
                                           "max_header_list_size: 32KiB, initial_window_size: "
                                           "1MiB, max_frame_size: 32KiB }\n"),
                             "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  const Http2Config& h = r.config->listeners.at(0).http2;
  EXPECT_TRUE(h.h2c);
  EXPECT_EQ(h.max_concurrent_streams, 50u);
  EXPECT_EQ(h.max_header_list_size, 32u * 1024);
  EXPECT_EQ(h.initial_window_size, 1024u * 1024);
  EXPECT_EQ(h.max_frame_size, 32u * 1024);
  LoadResult again = load_string(to_yaml(*r.config), "t.yaml");
  ASSERT_TRUE(again.config) << all_errors(again) << to_yaml(*r.config);
  EXPECT_EQ(again.config->listeners.at(0).http2, h);
}

TEST(Http2Config, OutOfRangeValuesPointAtTheLine) {
  LoadResult r = load_string(listener_with("    http2:\n      max_frame_size: 1KiB\n"
                                           "      max_concurrent_streams: 0\n"
                                           "      initial_window_size: 4GiB\n"
                                           "      h2c: maybe\n"),
                             "t.yaml");
  EXPECT_FALSE(r.config);
  const std::string e = all_errors(r);
  EXPECT_THAT(e, HasSubstr("t.yaml:6:"));
  EXPECT_THAT(e, HasSubstr("max_frame_size"));
  EXPECT_THAT(e, HasSubstr("16KiB"));
  EXPECT_THAT(e, HasSubstr("t.yaml:7:"));
  EXPECT_THAT(e, HasSubstr("t.yaml:8:"));
  EXPECT_THAT(e, HasSubstr("t.yaml:9:"));
}

TEST(Http2Config, UnknownKeyAndWrongMode) {
  LoadResult r = load_string(listener_with("    http2: { h2: true }\n"), "t.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_THAT(all_errors(r), HasSubstr("h2"));
  LoadResult tcp = load_string(listener_with("    http2: { h2c: true }\n", "tcp"), "t.yaml");
  EXPECT_FALSE(tcp.config);
  EXPECT_THAT(all_errors(tcp), HasSubstr("http2 applies to mode: http only"));
}

TEST(BackendProtocol, DefaultHttp1AndH2) {
  LoadResult r = load_string(listener_with(""), "t.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  EXPECT_EQ(r.config->backends.at(0).protocol, UpstreamProtocol::kHttp1);
  const std::string h2 =
      "listeners:\n  - address: 127.0.0.1:8080\n    backend: app\nbackends:\n  - name: app\n"
      "    protocol: h2\n    servers: [127.0.0.1:9001]\n";
  LoadResult r2 = load_string(h2, "t.yaml");
  ASSERT_TRUE(r2.config) << all_errors(r2);
  EXPECT_EQ(r2.config->backends.at(0).protocol, UpstreamProtocol::kH2);
  LoadResult again = load_string(to_yaml(*r2.config), "t.yaml");
  ASSERT_TRUE(again.config) << all_errors(again);
  EXPECT_EQ(again.config->backends.at(0).protocol, UpstreamProtocol::kH2);
  LoadResult bad = load_string(
      "listeners:\n  - address: 127.0.0.1:8080\n    backend: app\nbackends:\n  - name: app\n"
      "    protocol: h3\n    servers: [127.0.0.1:9001]\n",
      "t.yaml");
  EXPECT_FALSE(bad.config);
  EXPECT_THAT(all_errors(bad), HasSubstr("t.yaml:6:"));
}

}  // namespace
}  // namespace fulcrum::config
