#include "config/units.h"

#include <gtest/gtest.h>

#include "config/suggest.h"
#include "config/text.h"

namespace fulcrum::config {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), seconds(5));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("8760h"), hours(8760));  // exactly one year
}

TEST(ParseDuration, AcceptsFractionsThatAreWholeMilliseconds) {
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0.25s"), milliseconds(250));
  EXPECT_EQ(parse_duration("1.5m"), seconds(90));
  EXPECT_EQ(parse_duration("0.001s"), milliseconds(1));
  EXPECT_EQ(parse_duration("2.000000000000s"), seconds(2));
}

TEST(ParseDuration, RejectsBadInputWithAReason) {
  struct Case {
    const char* text;
    const char* reason;  // a fragment the error must contain
  };
  const Case cases[] = {
      {"", "empty"},
      {"-5s", "negative"},
      {"5", "missing unit"},
      {"1.5", "missing unit"},
      {"5 s", "unknown unit ' s'"},
      {"5sec", "unknown unit 'sec'"},
      {"5d", "unknown unit 'd'"},
      {"1.5ms", "whole number of milliseconds"},
      {"0.0001s", "whole number of milliseconds"},
      {"1.s", "digits expected"},
      {"8761h", "at most 1 year"},
      {"99999999999999999999999s", "at most 1 year"},
      {"s", "expected a duration"},
      {"+5s", "expected a duration"},
      {"abc", "expected a duration"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_EQ(parse_duration(c.text, &error), std::nullopt) << c.text;
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.text << " -> " << error;
    EXPECT_NE(error.find("expected a duration like 5s or 250ms"), std::string::npos) << error;
  }
}

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(seconds(5)), "5s");
  EXPECT_EQ(format_duration(seconds(90)), "90s");
  EXPECT_EQ(format_duration(minutes(2)), "2m");
  EXPECT_EQ(format_duration(hours(3)), "3h");
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  for (auto d : {milliseconds(1), milliseconds(61001), milliseconds(7200000)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d);
  }
}

TEST(ParseSize, AcceptsBytesAndIecUnits) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, RejectsAmbiguousAndBadInput) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"64KB", "'KB' is ambiguous; write KiB"},
      {"64K", "'K' is ambiguous; write KiB"},
      {"64k", "'k' is ambiguous; write KiB"},
      {"1MB", "write MiB"},
      {"-1", "negative"},
      {"1.5MiB", "whole number"},
      {"18446744073709551616", "too large"},
      {"16777216TiB", "too large"},
      {"10 KiB", "unknown unit ' KiB'"},
      {"10kib", "unknown unit 'kib'"},
      {"", "empty"},
      {"KiB", "expected a size"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_EQ(parse_size(c.text, &error), std::nullopt) << c.text;
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.text << " -> " << error;
  }
}

TEST(FormatSize, UsesTheLargestExactUnit) {
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(format_size(512), "512");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(32 * 1024), "32KiB");
  EXPECT_EQ(format_size(1024 * 1024), "1MiB");
  EXPECT_EQ(format_size(3ull << 30), "3GiB");
  for (Size s : {Size{1}, Size{1025}, Size{5} << 40, UINT64_MAX}) {
    EXPECT_EQ(parse_size(format_size(s)), s);
  }
}

Address inet(std::string host, std::uint16_t port) {
  Address a;
  a.host = std::move(host);
  a.port = port;
  return a;
}

TEST(ParseAddress, AcceptsEachForm) {
  EXPECT_EQ(parse_address("127.0.0.1:8080"), inet("127.0.0.1", 8080));
  EXPECT_EQ(parse_address("[::1]:80"), inet("::1", 80));
  EXPECT_EQ(parse_address("[2001:db8::1]:443"), inet("2001:db8::1", 443));
  EXPECT_EQ(parse_address("*:80"), inet("0.0.0.0", 80));
  EXPECT_EQ(parse_address("localhost:80"), inet("localhost", 80));
  EXPECT_EQ(parse_address("api-1.example.com:65535"), inet("api-1.example.com", 65535));
  EXPECT_EQ(parse_address("127.0.0.1:0"), inet("127.0.0.1", 0));

  auto u = parse_address("unix:/run/x.sock");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->kind, Address::Kind::kUnix);
  EXPECT_EQ(u->path, "/run/x.sock");
}

TEST(ParseAddress, RejectsBadInputWithAHint) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"localhost", "missing ':port'"},
      {"::1:80", "put an IPv6 address in brackets"},
      {"[::1]", "missing ':port' after ']'"},
      {"[::1:80", "missing ']'"},
      {"[nope]:80", "invalid IPv6"},
      {"127.0.0.1:", "missing port"},
      {"127.0.0.1:65536", "0 to 65535"},
      {"127.0.0.1:-1", "0 to 65535"},
      {"127.0.0.1:80x", "0 to 65535"},
      {"127.0.0.1: 80", "0 to 65535"},
      {"256.0.0.1:80", "invalid IPv4"},
      {" 127.0.0.1:80", "invalid host name"},
      {"bad_host:80", "invalid host name"},
      {"-bad:80", "invalid host name"},
      {":80", "missing host"},
      {"http://example.com:80", "leave out the scheme 'http://'"},
      {"unix:run/x.sock", "must be absolute"},
      {"unix:", "must be absolute"},
      {"", "empty"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_EQ(parse_address(c.text, &error), std::nullopt) << c.text;
    EXPECT_NE(error.find(c.reason), std::string::npos) << c.text << " -> " << error;
    EXPECT_NE(error.find("expected host:port, [v6]:port or unix:/path"), std::string::npos);
  }
  std::string error;
  EXPECT_FALSE(parse_address("unix:/" + std::string(200, 'a'), &error));
  EXPECT_NE(error.find("too long"), std::string::npos);
}

TEST(FormatAddress, IsTheInverseOfParse) {
  for (const char* text :
       {"127.0.0.1:8080", "[::1]:80", "localhost:0", "unix:/run/x.sock", "0.0.0.0:80"}) {
    auto a = parse_address(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(format_address(*a), text);
  }
  EXPECT_EQ(format_address(*parse_address("*:80")), "0.0.0.0:80");
}

TEST(Suggest, EditDistanceCountsTranspositionsAsOne) {
  EXPECT_EQ(edit_distance("address", "address"), 0u);
  EXPECT_EQ(edit_distance("adress", "address"), 1u);
  EXPECT_EQ(edit_distance("wieght", "weight"), 1u);
  EXPECT_EQ(edit_distance("Name", "name"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Suggest, ClosestMatchOnlyForPlausibleTypos) {
  std::vector<std::string_view> keys = {"name", "address", "mode", "backend"};
  EXPECT_EQ(closest_match("adress", keys), "address");
  EXPECT_EQ(closest_match("bakcend", keys), "backend");
  EXPECT_EQ(closest_match("mdoe", keys), "mode");
  EXPECT_EQ(closest_match("timeout", keys), std::nullopt);
  EXPECT_EQ(closest_match("x", keys), std::nullopt);
  EXPECT_EQ(closest_match("warning", {"info", "warn", "error"}), "warn");
  EXPECT_EQ(closest_match("round", {"round_robin"}), "round_robin");
  EXPECT_EQ(closest_match("ro", {"round_robin"}), std::nullopt);
}

TEST(Text, QuoteEscapesAndShortens) {
  EXPECT_EQ(quote("abc"), "\"abc\"");
  EXPECT_EQ(quote("a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
  EXPECT_EQ(quote("it's", '\''), "'it\\'s'");
  EXPECT_EQ(quote(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

TEST(Text, ParseUintIsStrict) {
  EXPECT_EQ(parse_uint("0", 10), 0u);
  EXPECT_EQ(parse_uint("256", 256), 256u);
  EXPECT_EQ(parse_uint("257", 256), std::nullopt);
  EXPECT_EQ(parse_uint("7", 5), std::nullopt);
  EXPECT_EQ(parse_uint("18446744073709551615", UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(parse_uint("18446744073709551616", UINT64_MAX), std::nullopt);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x10", "1.0"}) {
    EXPECT_EQ(parse_uint(bad, 1000), std::nullopt) << bad;
  }
}

TEST(Text, YamlScalarQuotesOnlyWhenNeeded) {
  EXPECT_EQ(yaml_scalar("web"), "web");
  EXPECT_EQ(yaml_scalar("127.0.0.1:80"), "127.0.0.1:80");
  EXPECT_EQ(yaml_scalar("[::1]:80"), "\"[::1]:80\"");
  EXPECT_EQ(yaml_scalar("null"), "\"null\"");
  EXPECT_EQ(yaml_scalar("-x"), "\"-x\"");
  EXPECT_EQ(yaml_scalar("a b"), "\"a b\"");
  EXPECT_EQ(yaml_scalar("a#b"), "\"a#b\"");
  EXPECT_EQ(yaml_scalar(""), "\"\"");
}

}  // namespace
}  // namespace fulcrum::config
