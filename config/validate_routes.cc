// check_routes(): the rules for a listener's routes, part of validate(). Values end up in HTTP
// heads (header ops, redirect targets, rewritten paths) or in compiled matchers (RE2 regexes,
// CIDRs), so each is checked here, where the error can still name the key, rather than
// failing, or worse passing through, at run time.
#include <re2/re2.h>

#include <algorithm>
#include <array>

#include "config/checks.h"
#include "config/suggest.h"
#include "config/text.h"

namespace fulcrum::config {

std::string_view to_string(AccessLogConfig::Format v) {
  switch (v) {
    case AccessLogConfig::Format::kCombined:
      return "combined";
    case AccessLogConfig::Format::kJson:
      return "json";
  }
  return "?";
}

namespace detail {

std::string_view action_key(RouteConfig::Action a) {
  switch (a) {
    case RouteConfig::Action::kForward:
      return "backend";
    case RouteConfig::Action::kSplit:
      return "split";
    case RouteConfig::Action::kRedirect:
      return "redirect";
    case RouteConfig::Action::kRespond:
      return "respond";
  }
  return "?";
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Fields lbd writes or strips itself; a header op on them would duplicate or contradict its
// own (a second Content-Length or Host is a request smuggling vector).
constexpr std::array<std::string_view, 8> kHopFields = {"content-length",   "transfer-encoding",
                                                        "connection",       "keep-alive",
                                                        "proxy-connection", "te",
                                                        "trailer",          "upgrade"};
constexpr std::array<std::string_view, 5> kRequestFields = {
    "host", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"};

class RouteChecker {
 public:
  RouteChecker(const Config& c, std::vector<ConfigError>& errors) : c_(c), errors_(errors) {}

  void route(const RouteConfig& r, const std::string& p);

 private:
  void error(std::string path, std::string message) {
    errors_.push_back(ConfigError{{}, std::move(path), std::move(message)});
  }
  void regex(const std::string& pattern, const std::string& path);
  void backend_ref(const std::string& name, const std::string& path);
  void fields(const std::vector<FieldMatch>& fs, const std::string& path, bool token_names);
  void ops(const HeaderOps& o, const std::string& path, bool request);
  void url_path(const std::string& s, const std::string& path, bool allow_empty);

  const Config& c_;
  std::vector<ConfigError>& errors_;
};

void RouteChecker::regex(const std::string& pattern, const std::string& path) {
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re(pattern, opts);
  if (!re.ok()) error(path, "invalid regular expression " + quote(pattern) + ": " + re.error());
}

void RouteChecker::backend_ref(const std::string& name, const std::string& path) {
  if (name.empty()) {
    error(path, "backend is required: the name of one of the backends");
    return;
  }
  if (c_.backends.empty()) return;  // "at least one backend" says it already
  std::vector<std::string_view> names;
  for (const BackendConfig& b : c_.backends) names.push_back(b.name);
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string msg = "no backend named " + quote(name, '\'');
  if (auto near = closest_match(name, names)) {
    msg += "; did you mean '" + *near + "'?";
  } else {
    msg += "; defined backends: " + join(names);
  }
  error(path, std::move(msg));
}

void RouteChecker::fields(const std::vector<FieldMatch>& fs, const std::string& path,
                          bool token_names) {
  for (size_t i = 0; i < fs.size(); ++i) {
    const FieldMatch& f = fs[i];
    const std::string p = path + "[" + std::to_string(i) + "]";
    if (f.name.empty()) {
      error(p + ".name", "name is required");
    } else if (token_names ? !is_token(f.name) : has_control(f.name)) {
      error(p + ".name", "not a valid name: " + quote(f.name) +
                             (token_names ? " (letters, digits and !#$%&'*+-.^_`|~ only)" : ""));
    }
    if (f.kind == FieldMatch::Kind::kRegex) regex(f.value, p + ".regex");
  }
}

void RouteChecker::ops(const HeaderOps& o, const std::string& path, bool request) {
  auto name_ok = [&](const std::string& name, const std::string& p) {
    if (!is_token(name)) {
      error(p, "not a valid header name: " + quote(name) +
                   " (letters, digits and !#$%&'*+-.^_`|~ only)");
      return false;
    }
    auto managed = [&](auto& list) {
      return std::any_of(list.begin(), list.end(), [&](auto m) { return iequal(m, name); });
    };
    if (managed(kHopFields) || (request && managed(kRequestFields))) {
      error(p, "header '" + name + "' is managed by lbd and cannot be changed by a route");
      return false;
    }
    return true;
  };
  for (const auto* list : {&o.set, &o.add}) {
    const std::string lp = path + (list == &o.set ? ".set" : ".add");
    for (size_t i = 0; i < list->size(); ++i) {
      const auto& [name, value] = (*list)[i];
      const std::string p = entry_path(lp, name);
      if (!name_ok(name, p)) continue;
      if (has_control(value, true)) {
        error(p, "header value must not contain line breaks or other control characters, got " +
                     quote(value));
      }
      for (size_t j = 0; j < i && list == &o.set; ++j) {
        if (iequal((*list)[j].first, name)) {
          error(p, "header '" + name + "' is set twice (header names ignore case)");
          break;
        }
      }
    }
  }
  for (size_t i = 0; i < o.remove.size(); ++i) {
    name_ok(o.remove[i], path + ".remove[" + std::to_string(i) + "]");
  }
}

// A path that goes into a request line: starts with '/', no spaces or control bytes.
void RouteChecker::url_path(const std::string& s, const std::string& path, bool allow_empty) {
  if (s.empty() && allow_empty) return;
  if (s.empty() || s.front() != '/') {
    error(path, "expected a path starting with '/', got " + quote(s));
  } else if (has_control(s) || s.find(' ') != std::string::npos) {
    error(path, "a path must not contain spaces or control characters, got " + quote(s));
  }
}

void RouteChecker::route(const RouteConfig& r, const std::string& p) {
  using Action = RouteConfig::Action;
  const RouteMatch& m = r.match;
  const std::string mp = p + ".match";
  for (size_t i = 0; i < m.hosts.size(); ++i) {
    const std::string& h = m.hosts[i];
    std::string_view name = h.starts_with("*.") ? std::string_view(h).substr(2) : h;
    bool ok = !name.empty() && name.front() != '.' && name.back() != '.';
    for (char c : name) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '[' || c == ']' || c == ':');
    }
    // A colon belongs only in a bracketed IPv6 address: the port is never compared.
    if (ok && name.find(':') != std::string_view::npos) ok = name.front() == '[';
    if (!ok) {
      error(
          mp + ".host[" + std::to_string(i) + "]",
          "expected a host name like api.example.com or *.example.com (no port), got " + quote(h));
    }
  }
  switch (m.path_kind) {
    case RouteMatch::PathKind::kAny:
      break;
    case RouteMatch::PathKind::kExact:
      url_path(m.path, mp + ".path", false);
      break;
    case RouteMatch::PathKind::kPrefix:
      url_path(m.path, mp + ".path_prefix", false);
      break;
    case RouteMatch::PathKind::kRegex:
      regex(m.path, mp + ".path_regex");
      break;
  }
  static const std::vector<std::string_view> kMethods = {"GET",    "HEAD",    "POST",  "PUT",
                                                         "DELETE", "OPTIONS", "PATCH", "TRACE"};
  for (size_t i = 0; i < m.methods.size(); ++i) {
    const std::string& method = m.methods[i];
    const std::string mp_i = mp + ".method[" + std::to_string(i) + "]";
    if (!is_token(method)) {
      error(mp_i, "expected a method like GET or POST, got " + quote(method));
      continue;
    }
    for (std::string_view known : kMethods) {
      if (iequal(method, known) && method != known) {
        error(mp_i, "methods are case-sensitive: " + quote(method, '\'') +
                        " never matches; did "
                        "you mean '" +
                        std::string(known) + "'?");
      }
    }
  }
  fields(m.headers, mp + ".headers", true);
  fields(m.query, mp + ".query", false);
  fields(m.cookies, mp + ".cookies", true);
  for (size_t i = 0; i < m.sources.size(); ++i) {
    if (!is_address_or_cidr(m.sources[i])) {
      error(mp + ".source[" + std::to_string(i) + "]",
            "expected an address or CIDR like 10.0.0.0/8 or ::1, got " + quote(m.sources[i]));
    }
  }

  switch (r.action) {
    case Action::kForward:
      backend_ref(r.backend, p + ".backend");
      break;
    case Action::kSplit: {
      bool any = false;
      for (size_t i = 0; i < r.split.size(); ++i) {
        const std::string sp = p + ".split[" + std::to_string(i) + "]";
        backend_ref(r.split[i].backend, sp + ".backend");
        if (r.split[i].weight > 10000) {
          error(sp + ".weight", "expected a whole number from 0 to 10000, got " +
                                    std::to_string(r.split[i].weight));
        }
        any = any || r.split[i].weight > 0;
      }
      if (!any) {
        error(p + ".split", r.split.empty() ? "at least one backend is required"
                                            : "every weight is 0: at least one must be above 0");
      }
      break;
    }
    case Action::kRedirect: {
      if (r.redirect_to.empty()) {
        error(p + ".redirect.to", "to is required: where to send the client");
      } else if (has_control(r.redirect_to) || r.redirect_to.find(' ') != std::string::npos) {
        error(p + ".redirect.to",
              "must not contain spaces, line breaks or other control characters, got " +
                  quote(r.redirect_to));
      }
      const int s = r.redirect_status;
      if (s != 301 && s != 302 && s != 307 && s != 308) {
        error(p + ".redirect.status",
              "expected one of: 301, 302, 307, 308, got " + std::to_string(s));
      }
      break;
    }
    case Action::kRespond:
      if (r.respond_status < 200 || r.respond_status > 599) {
        error(p + ".respond.status",
              "expected a status from 200 to 599, got " + std::to_string(r.respond_status));
      }
      if (r.respond_content_type.empty() || has_control(r.respond_content_type)) {
        error(p + ".respond.content_type",
              "expected a media type like text/plain (no control characters), got " +
                  quote(r.respond_content_type));
      }
      if (r.respond_body.size() > kMaxFixedBody) {
        error(p + ".respond.body",
              "at most 8KiB, got " + std::to_string(r.respond_body.size()) + " bytes");
      }
      break;
  }

  ops(r.request_headers, p + ".request_headers", true);
  ops(r.response_headers, p + ".response_headers", false);
  url_path(r.strip_prefix, p + ".rewrite.strip_prefix", true);
  if (!r.rewrite_regex.empty()) {
    regex(r.rewrite_regex, p + ".rewrite.regex");
    RE2 re(r.rewrite_regex, RE2::Quiet);
    std::string why;
    if (re.ok() && !re.CheckRewriteString(r.rewrite_replace, &why)) {
      error(p + ".rewrite.replace", why);
    }
  } else if (!r.rewrite_replace.empty()) {
    error(p + ".rewrite.regex", "regex is required with replace");
  }
  if (has_control(r.rewrite_replace) || r.rewrite_replace.find(' ') != std::string::npos) {
    error(p + ".rewrite.replace",
          "must not contain spaces or control characters, got " + quote(r.rewrite_replace));
  }

  // A local answer is made by lbd: nothing is forwarded, so these would silently do nothing.
  if (r.action == Action::kRedirect || r.action == Action::kRespond) {
    const std::string why = " has no effect on a " + std::string(action_key(r.action)) +
                            " route (it applies to requests forwarded to a backend)";
    if (!r.request_headers.empty()) error(p + ".request_headers", "request_headers" + why);
    if (!r.response_headers.empty()) error(p + ".response_headers", "response_headers" + why);
    if (!r.strip_prefix.empty() || !r.rewrite_regex.empty()) {
      error(p + ".rewrite", "rewrite" + why);
    }
  }
}

}  // namespace

void check_routes(const Config& c, size_t listener, std::vector<ConfigError>& errors) {
  const ListenerConfig& l = c.listeners[listener];
  const std::string lp = "listeners[" + std::to_string(listener) + "]";
  RouteChecker checker(c, errors);
  for (size_t k = 0; k < l.routes.size(); ++k) {
    const RouteConfig& r = l.routes[k];
    const std::string p = lp + ".routes[" + std::to_string(k) + "]";
    if (r.name.empty()) {
      errors.push_back(ConfigError{{}, p + ".name", "name must not be empty"});
    }
    for (size_t j = 0; j < k && !r.name.empty(); ++j) {
      if (l.routes[j].name == r.name) {
        errors.push_back(ConfigError{{},
                                     p + ".name",
                                     "route name '" + r.name +
                                         "' is already used in this "
                                         "listener (" +
                                         lp + ".routes[" + std::to_string(j) + "])"});
        break;
      }
    }
    checker.route(r, p);
  }
}

}  // namespace detail
}  // namespace fulcrum::config
