// The backend keys added with balancing and health checking (balance beyond round_robin,
// consistent_hash, hash_key, health_check, outlier), read by the walk in loader.cc. As for
// routes, the walk checks shapes, syntax and which keys go together; bounds and relations
// between values are validate()'s (validate_backends.cc), so quick-mode configs meet them too.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "config/walker.h"

namespace fulcrum::config::detail {
namespace {

constexpr std::string_view kHttpOnly[] = {"method", "path", "host", "expect_status", "expect_body"};

// "2", "1.25": a plain decimal number, as to_yaml writes it.
std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

bool Walker::read_balance(const Field& f, BalanceAlgorithm& out, bool& consistent) {
  const std::vector<std::string_view>& names = balance_names();
  std::string expected = "expected one of: " + join(names);
  auto t = text(f, expected);
  if (!t) return false;
  if (std::find(names.begin(), names.end(), *t) != names.end()) {
    out = *parse_balance(*t);
    consistent = *t == "consistent_hash";
    return true;
  }
  std::string msg = expected + ", got " + quote(*t);
  if (*t == "maglev" || *t == "ring_hash") {
    msg += "; write balance: consistent_hash with consistent_hash: { method: " + *t + " }";
  } else if (auto near = closest_match(*t, names)) {
    msg += "; did you mean '" + *near + "'?";
  }
  error(f.mark, f.path, std::move(msg));
  return false;
}

void Walker::read_consistent_hash(const Field& f, BackendConfig& b, ConsistentHash& out) {
  out.given = true;
  out.mark = f.key_mark;
  out.path = f.path;
  if (f.value.IsNull()) return;  // `consistent_hash:` alone: every setting at its default
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (method:, key:, balance_factor:), got ") +
              kind_name(f.value));
    return;
  }
  KeyMarks unused;
  for_each_field(f.value, f.path, {"method", "key", "balance_factor"}, unused, [&](const Field& g) {
    if (g.key == "method") {
      constexpr std::string_view kWant = "expected one of: maglev, ring_hash";
      auto t = text(g, kWant);
      if (!t) return;
      if (*t == "maglev" || *t == "ring_hash") {
        out.ring = *t == "ring_hash";
      } else {
        std::string msg = std::string(kWant) + ", got " + quote(*t);
        if (auto near = closest_match(*t, {"maglev", "ring_hash"})) {
          msg += "; did you mean '" + *near + "'?";
        }
        error(g.mark, g.path, std::move(msg));
      }
    } else if (g.key == "key") {
      out.has_key = true;
      read_hash_key(g, b.hash_key);
    } else if (g.key == "balance_factor") {
      out.factor_mark = g.mark;
      constexpr std::string_view kWant = "expected a number greater than 1, like 1.25";
      auto t = text(g, kWant);
      if (!t) return;
      if (auto v = parse_number(*t)) {
        b.hash_balance_factor = *v;
      } else {
        bad_value(g, kWant, *t);
      }
    }
  });
}

void Walker::read_hash_key(const Field& f, HashKey& out) {
  constexpr std::string_view kWant =
      "expected source, header:NAME, cookie:NAME, path or query:NAME";
  auto t = text(f, kWant);
  if (!t) return;
  std::string why;
  if (auto k = parse_hash_key(*t, &why)) {
    out = *k;
  } else {
    bad_value(f, why, *t);
  }
}

void Walker::check_balancing(BackendConfig& b, const std::string& path, bool balance_ok,
                             bool consistent, const ConsistentHash& ch) {
  if (!balance_ok) return;  // the balance error said it; guessing further would mislead
  const std::string now = "this backend's balance is " + std::string(balance_yaml_name(b.balance));
  if (consistent) {
    b.balance = ch.ring ? BalanceAlgorithm::kRingHash : BalanceAlgorithm::kMaglev;
    if (!ch.given) {
      error(b.key_marks.at("balance", b.mark), path + ".balance",
            "balance: consistent_hash needs a consistent_hash block, e.g. consistent_hash: "
            "{ method: maglev, key: \"header:X-User\" }");
    }
  } else if (ch.given) {
    error(ch.mark, ch.path,
          "consistent_hash applies only with balance: consistent_hash (" + now + ")");
    // Its key landed in hash_key; validate() would report that again, less clearly.
    if (ch.has_key) covered.push_back({path + ".hash_key", false});
  }
  if (b.key_marks.by_key.contains("hash_key")) {
    const Mark& m = b.key_marks.at("hash_key", b.mark);
    if (!uses_hash_key(b.balance)) {
      error(m, path + ".hash_key",
            "hash_key is used only by balance: source_hash and consistent_hash (" + now + ")");
    } else if (ch.has_key) {
      error(m, path + ".hash_key",
            "the key is already given by consistent_hash.key; give it in one place");
    }
  }
  if (consistent && ch.factor_mark && !ch.ring) {
    error(*ch.factor_mark, ch.path + ".balance_factor",
          "balance_factor applies only to method: ring_hash (bounded loads); maglev has none");
  }
}

void Walker::read_health_check(const Field& f, HealthCheckConfig& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (type:, interval:, ...); leave health_check out for "
                      "no active checks, got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks km;
  for_each_field(
      f.value, f.path,
      {"type", "interval", "timeout", "rise", "fall", "method", "path", "host", "expect_status",
       "expect_body", "source"},
      km, [&](const Field& g) {
        if (g.key == "type") {
          read_enum(g, {HealthCheckConfig::Type::kTcp, HealthCheckConfig::Type::kHttp}, out.type);
        } else if (g.key == "interval") {
          read_duration(g, out.interval);
        } else if (g.key == "timeout") {
          read_duration(g, out.timeout);
        } else if (g.key == "rise") {
          read_uint(g, 1, 100, out.rise);
        } else if (g.key == "fall") {
          read_uint(g, 1, 100, out.fall);
        } else if (g.key == "method") {
          if (auto t = text(g, "expected a method like GET or HEAD")) out.method = *t;
        } else if (g.key == "path") {
          if (auto t = text(g, "expected a path starting with /")) out.path = *t;
        } else if (g.key == "host") {
          if (auto t = text(g, "expected a host name")) out.host = *t;
        } else if (g.key == "expect_status") {
          read_expect_status(g, out.expect_status);
        } else if (g.key == "expect_body") {
          if (auto t = text(g, "expected the text the body must contain")) out.expect_body = *t;
        } else if (g.key == "source") {
          if (auto t = text(g, "expected an IP address like 10.0.0.5")) out.source = *t;
        }
      });
  if (!km.by_key.contains("type")) {
    error(f.key_mark, f.path + ".type", "type is required: tcp or http");
  } else if (out.type == HealthCheckConfig::Type::kTcp) {
    for (std::string_view key : kHttpOnly) {
      if (!km.by_key.contains(key)) continue;
      error(km.at(key, f.mark), f.path + "." + std::string(key),
            "'" + std::string(key) + "' is only for type: http (this check is tcp)");
    }
  }
}

void Walker::read_expect_status(const Field& f, std::vector<std::pair<int, int>>& out) {
  constexpr std::string_view kWant =
      "expected a status from 100 to 599 or a range like \"200-399\"";
  bool rejected = false;
  auto one = [&](const Field& item) {
    auto t = text(item, kWant);
    rejected |= !t;
    if (!t) return;
    const size_t dash = t->find('-');
    auto lo = parse_uint(t->substr(0, dash), 999);
    auto hi = dash == std::string::npos ? lo : parse_uint(t->substr(dash + 1), 999);
    if (!lo || !hi || *lo < 100 || *hi > 599 || *lo > *hi) {
      bad_value(item, kWant, *t);
      rejected = true;
      return;
    }
    out.emplace_back(static_cast<int>(*lo), static_cast<int>(*hi));
  };
  out.clear();  // the default range gives way to what is written
  if (f.value.IsScalar()) {
    one(f);
  } else if (expect_list(f, "statuses and ranges")) {
    for_each_item(f, [&](const Field& item, size_t) { one(item); });
  }
  // With every item rejected the list is empty; saying so as well would only repeat.
  if (rejected) covered.push_back({f.path, false});
}

void Walker::read_sticky(const Field& f, StickyConfig& out) {
  out.enabled = true;  // `sticky:` alone is enough: insert mode, the default cookie name
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (cookie: NAME, mode: insert|learn), got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks seen;
  for_each_field(
      f.value, f.path, {"mode", "cookie", "ttl", "table_size"}, seen, [&](const Field& g) {
        if (g.key == "mode") {
          read_enum(g, {StickyConfig::Mode::kInsert, StickyConfig::Mode::kLearn}, out.mode);
        } else if (g.key == "ttl") {
          read_duration(g, out.ttl);
        } else if (g.key == "table_size") {
          read_uint(g, 1, 1u << 24, out.table_size);
        } else if (g.key == "cookie") {
          read_cookie_name(g, out.cookie);
        }
      });
  if (out.mode == StickyConfig::Mode::kLearn) {
    // Learning follows a cookie the application sets; lbd's own default name would never
    // appear in a response.
    if (!seen.by_key.contains("cookie")) {
      error(f.mark, f.path + ".cookie",
            "mode: learn needs the name of the cookie the application sets (e.g. cookie: "
            "JSESSIONID)");
    }
    if (out.ttl.count() <= 0) {
      error(seen.at("ttl", f.mark), f.path + ".ttl",
            "must be greater than 0, got " + format_duration(out.ttl));
    }
  } else {
    for (const char* key : {"ttl", "table_size"}) {
      if (seen.by_key.contains(key)) {
        error(seen.at(key, f.mark), f.path + "." + key,
              std::string("'") + key +
                  "' is only for mode: learn (this backend inserts its "
                  "own cookie)");
      }
    }
  }
}

void Walker::read_cookie_name(const Field& g, std::string& out) {
  if (!g.value.IsScalar() || g.value.Scalar().empty()) {
    error(g.mark, g.path, "expected a cookie name");
    return;
  }
  const std::string& name = g.value.Scalar();
  // A cookie name is an HTTP token (RFC 6265): it goes into Set-Cookie as written.
  const bool token = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
  if (!token) {
    error(g.mark, g.path,
          "expected a cookie name (letters, digits, !#$%&'*+-.^_`|~), got " + quote(name));
    return;
  }
  out = name;
}

void Walker::read_metrics(const Field& f, MetricsConfig& out) {
  out.enabled = true;
  out.mark = f.mark;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (address: HOST:PORT), got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks seen;
  for_each_field(f.value, f.path, {"address"}, seen, [&](const Field& g) {
    read_address(g, out.address);
    if (out.address.kind == Address::Kind::kUnix) {
      error(g.mark, g.path,
            "expected HOST:PORT (the exporter serves HTTP over TCP), got " +
                quote(format_address(out.address)));
    }
  });
  if (!seen.by_key.contains("address")) {
    error(f.mark, f.path + ".address", "address is required, e.g. 127.0.0.1:9100");
  }
}

void Walker::read_admin(const Field& f, AdminConfig& out) {
  out.enabled = true;  // `admin:` alone: the default socket path and mode
  out.mark = f.mark;
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (socket: PATH, mode: \"0660\"), got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks seen;
  for_each_field(f.value, f.path, {"socket", "mode"}, seen, [&](const Field& g) {
    auto t = text(g, "expected an absolute path");
    if (!t) return;
    if (g.key == "socket") {
      // sun_path holds 108 bytes with its NUL.
      if (t->empty() || t->front() != '/' || t->size() > 107) {
        error(g.mark, g.path,
              "expected an absolute path of at most 107 bytes, got " + quote(std::string(*t)));
        return;
      }
      out.socket = std::string(*t);
    } else {
      // Octal, as chmod takes it: "0660", "660", "0600".
      const bool octal =
          !t->empty() && t->size() <= 4 &&
          std::all_of(t->begin(), t->end(), [](char c) { return c >= '0' && c <= '7'; });
      if (!octal) {
        error(g.mark, g.path,
              "expected permissions in octal like \"0660\", got " + quote(std::string(*t)));
        return;
      }
      out.mode = static_cast<std::uint32_t>(std::stoul(std::string(*t), nullptr, 8));
    }
  });
}

void Walker::read_queue(const Field& f, QueueConfig& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (size: N, timeout: DURATION), got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks seen;
  for_each_field(f.value, f.path, {"size", "timeout"}, seen, [&](const Field& g) {
    if (g.key == "size") {
      read_uint(g, 0, 1u << 20, out.size);
    } else if (g.key == "timeout") {
      read_duration(g, out.timeout);
      if (out.timeout.count() <= 0) {
        error(g.mark, g.path, "must be greater than 0, got " + format_duration(out.timeout));
      }
    }
  });
}

void Walker::read_outlier(const Field& f, OutlierConfig& out) {
  out.enabled = true;  // the key's presence turns detection on; `outlier:` alone is enough
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (consecutive_5xx:, base_ejection:, ...); leave outlier "
                      "out to turn detection off, got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks unused;
  constexpr auto kMax = std::numeric_limits<std::uint32_t>::max();
  for_each_field(f.value, f.path,
                 {"consecutive_5xx", "consecutive_failures", "base_ejection", "max_ejection",
                  "max_ejection_percent"},
                 unused, [&](const Field& g) {
                   if (g.key == "consecutive_5xx") {
                     read_uint(g, 0, kMax, out.consecutive_5xx);
                   } else if (g.key == "consecutive_failures") {
                     read_uint(g, 0, kMax, out.consecutive_failures);
                   } else if (g.key == "base_ejection") {
                     read_duration(g, out.base_ejection);
                   } else if (g.key == "max_ejection") {
                     read_duration(g, out.max_ejection);
                   } else if (g.key == "max_ejection_percent") {
                     read_uint(g, 0, 100, out.max_ejection_percent);
                   }
                 });
}

}  // namespace fulcrum::config::detail
