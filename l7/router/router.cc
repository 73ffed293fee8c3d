#include "l7/router/router.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "l7/forward.h"

namespace fulcrum::l7 {

using config::FieldMatch;
using config::RouteMatch;
using http1::iequals;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

re2::StringPiece piece(std::string_view s) { return re2::StringPiece(s.data(), s.size()); }

struct CompiledField {
  std::string name;
  FieldMatch::Kind kind;
  std::string value;
  std::unique_ptr<re2::RE2> regex;

  bool value_matches(std::string_view v) const {
    switch (kind) {
      case FieldMatch::Kind::kPresent:
        return true;
      case FieldMatch::Kind::kEquals:
        return v == value;
      case FieldMatch::Kind::kRegex:
        return re2::RE2::PartialMatch(piece(v), *regex);
    }
    return false;
  }
};

}  // namespace

bool CidrSet::add(std::string_view text) {
  Entry e;
  const std::size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  unsigned prefix = 0;
  if (inet_pton(AF_INET, addr.c_str(), e.bytes.data()) == 1) {
    prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), e.bytes.data()) == 1) {
    e.v6 = true;
    prefix = 128;
  } else {
    return false;
  }
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return false;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > prefix) return false;
    prefix = v;
  }
  e.prefix = prefix;
  entries_.push_back(e);
  return true;
}

bool CidrSet::contains(const asio::ip::address& a) const {
  std::array<std::uint8_t, 16> b{};
  bool is6 = a.is_v6();
  if (is6 && a.to_v6().is_v4_mapped()) {
    const auto v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes();
    std::copy(v4.begin(), v4.end(), b.begin());
    is6 = false;
  } else if (is6) {
    b = a.to_v6().to_bytes();
  } else {
    const auto v4 = a.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), b.begin());
  }
  for (const Entry& e : entries_) {
    if (e.v6 != is6) continue;
    unsigned bits = e.prefix;
    bool match = true;
    for (std::size_t i = 0; bits > 0 && match; ++i) {
      const unsigned take = std::min(bits, 8u);
      const auto mask = static_cast<std::uint8_t>(0xff00u >> take);
      match = (b[i] & mask) == (e.bytes[i] & mask);
      bits -= take;
    }
    if (match) return true;
  }
  return false;
}

struct Route::Match {
  std::vector<std::string> exact_hosts;      // lower case
  std::vector<std::string> wildcard_suffix;  // ".example.com", lower case
  RouteMatch::PathKind path_kind = RouteMatch::PathKind::kAny;
  std::string path;
  std::unique_ptr<re2::RE2> path_regex;
  std::vector<std::string> methods;
  std::vector<CompiledField> headers, query, cookies;
  CidrSet sources;

  bool host_matches(std::string_view host) const {
    if (exact_hosts.empty() && wildcard_suffix.empty()) return true;
    for (const auto& h : exact_hosts) {
      if (iequals(h, host)) return true;
    }
    for (const auto& suffix : wildcard_suffix) {
      if (host.size() > suffix.size() &&
          iequals(host.substr(host.size() - suffix.size()), suffix)) {
        return true;
      }
    }
    return false;
  }

  bool matches(const RequestView& req) const {
    if (!host_matches(req.host)) return false;
    switch (path_kind) {
      case RouteMatch::PathKind::kAny:
        break;
      case RouteMatch::PathKind::kExact:
        if (req.path != path) return false;
        break;
      case RouteMatch::PathKind::kPrefix:
        if (req.path.substr(0, path.size()) != path) return false;
        break;
      case RouteMatch::PathKind::kRegex:
        if (!re2::RE2::PartialMatch(piece(req.path), *path_regex)) return false;
        break;
    }
    if (!methods.empty() && std::none_of(methods.begin(), methods.end(), [&](const std::string& m) {
          return m == req.head.method;
        })) {
      return false;
    }
    for (const auto& f : headers) {
      bool found = false;
      for (std::size_t i = 0; i < req.head.header_count && !found; ++i) {
        const auto& h = req.head.headers[i];
        found = iequals(h.name, f.name) && f.value_matches(h.value);
      }
      if (!found) return false;
    }
    for (const auto& f : query) {
      if (!for_each_pair(req.query, '&', [&](std::string_view n, std::string_view v) {
            return n == f.name && f.value_matches(v);
          })) {
        return false;
      }
    }
    for (const auto& f : cookies) {
      bool found = false;
      for (std::size_t i = 0; i < req.head.header_count && !found; ++i) {
        const auto& h = req.head.headers[i];
        if (!iequals(h.name, "cookie")) continue;
        found = for_each_pair(h.value, ';', [&](std::string_view n, std::string_view v) {
          return n == f.name && f.value_matches(v);
        });
      }
      if (!found) return false;
    }
    if (!sources.empty() && !sources.contains(req.source)) return false;
    return true;
  }
};

Route::Route() = default;
Route::~Route() = default;
Route::Route(Route&&) noexcept = default;

const Backend* Route::pick_split(std::uint32_t random) const {
  const std::uint32_t x = random % split_total;
  for (const auto& [backend, cumulative] : split) {
    if (x < cumulative) return backend;
  }
  return split.back().first;
}

bool CompiledHeaderOps::drops(std::string_view name) const {
  for (const auto& r : remove) {
    if (iequals(r, name)) return true;
  }
  for (const auto& [n, v] : set) {
    if (iequals(n, name)) return true;
  }
  return false;
}

void split_target(std::string_view target, std::string_view& path, std::string_view& query) {
  if (!target.empty() && target.front() != '/') {
    // absolute-form: skip "scheme://authority"
    const std::size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      const std::size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  const std::size_t q = target.find('?');
  path = target.substr(0, q);
  query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const std::size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

const Route* Router::match(const RequestView& req) const {
  for (const auto& r : routes_) {
    if (r.match->matches(req)) return &r;
  }
  return nullptr;
}

namespace {

std::unique_ptr<re2::RE2> compile_regex(const std::string& pattern, const std::string& path,
                                        std::vector<std::string>& errors) {
  re2::RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, opts);
  if (!re->ok()) {
    errors.push_back(path + ": invalid regular expression: " + re->error());
    return nullptr;
  }
  return re;
}

bool compile_fields(const std::vector<FieldMatch>& in, std::vector<CompiledField>& out,
                    const std::string& path, std::vector<std::string>& errors) {
  bool ok = true;
  for (std::size_t i = 0; i < in.size(); ++i) {
    CompiledField f{in[i].name, in[i].kind, in[i].value, nullptr};
    if (f.kind == FieldMatch::Kind::kRegex) {
      f.regex = compile_regex(f.value, path + "[" + std::to_string(i) + "].regex", errors);
      if (!f.regex) {
        ok = false;
        continue;
      }
    }
    out.push_back(std::move(f));
  }
  return ok;
}

CompiledHeaderOps compile_ops(const config::HeaderOps& ops) {
  return CompiledHeaderOps{ops.set, ops.add, ops.remove};
}

}  // namespace

bool Router::compile_one(const config::RouteConfig& rc, Route& r, const std::string& path,
                         std::vector<std::string>& errors) {
  bool ok = true;
  r.name = rc.name;
  r.action = rc.action;
  r.match = std::make_unique<Route::Match>();
  Route::Match& m = *r.match;
  for (const auto& h : rc.match.hosts) {
    if (h.rfind("*.", 0) == 0) {
      m.wildcard_suffix.push_back(lower(h.substr(1)));
    } else {
      m.exact_hosts.push_back(lower(h));
    }
  }
  m.path_kind = rc.match.path_kind;
  m.path = rc.match.path;
  if (m.path_kind == RouteMatch::PathKind::kRegex) {
    m.path_regex = compile_regex(rc.match.path, path + ".match.path_regex", errors);
    ok = ok && m.path_regex != nullptr;
  }
  m.methods = rc.match.methods;
  ok = compile_fields(rc.match.headers, m.headers, path + ".match.headers", errors) && ok;
  ok = compile_fields(rc.match.query, m.query, path + ".match.query", errors) && ok;
  ok = compile_fields(rc.match.cookies, m.cookies, path + ".match.cookies", errors) && ok;
  for (std::size_t i = 0; i < rc.match.sources.size(); ++i) {
    if (!m.sources.add(rc.match.sources[i])) {
      errors.push_back(path + ".match.sources[" + std::to_string(i) +
                       "]: expected an address or CIDR like 10.0.0.0/8, got '" +
                       rc.match.sources[i] + "'");
      ok = false;
    }
  }

  r.request_ops = compile_ops(rc.request_headers);
  r.response_ops = compile_ops(rc.response_headers);
  r.strip_prefix = rc.strip_prefix;
  if (!rc.rewrite_regex.empty()) {
    r.rewrite_regex = compile_regex(rc.rewrite_regex, path + ".rewrite.regex", errors);
    ok = ok && r.rewrite_regex != nullptr;
    r.rewrite_replace = rc.rewrite_replace;
  }

  if (rc.action == config::RouteConfig::Action::kRedirect) {
    r.redirect_status = rc.redirect_status;
    static constexpr std::pair<std::string_view, Route::Piece::Kind> kVars[] = {
        {"$request_uri", Route::Piece::Kind::kRequestUri},
        {"$scheme", Route::Piece::Kind::kScheme},
        {"$query", Route::Piece::Kind::kQuery},
        {"$host", Route::Piece::Kind::kHost},
        {"$path", Route::Piece::Kind::kPath}};
    std::string_view t = rc.redirect_to;
    std::string literal;
    while (!t.empty()) {
      bool matched = false;
      if (t.front() == '$') {
        for (const auto& [name, kind] : kVars) {
          if (t.substr(0, name.size()) == name) {
            if (!literal.empty()) r.redirect.push_back({Route::Piece::Kind::kLiteral, literal});
            literal.clear();
            r.redirect.push_back({kind, {}});
            t.remove_prefix(name.size());
            matched = true;
            break;
          }
        }
      }
      if (!matched) {
        literal.push_back(t.front());
        t.remove_prefix(1);
      }
    }
    if (!literal.empty()) r.redirect.push_back({Route::Piece::Kind::kLiteral, literal});
  } else if (rc.action == config::RouteConfig::Action::kRespond) {
    r.respond_body = rc.respond_body;
    r.respond_status = rc.respond_status;
    r.respond_head = "HTTP/1.1 " + std::to_string(rc.respond_status) + " " +
                     std::string(status_text(rc.respond_status)) +
                     "\r\nContent-Type: " + rc.respond_content_type +
                     "\r\nContent-Length: " + std::to_string(rc.respond_body.size()) + "\r\n";
  }
  return ok;
}

}  // namespace fulcrum::l7
