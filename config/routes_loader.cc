// The listener keys added with L7 routing (routes, error_bodies, access_log), read by the
// walk in loader.cc. As there, the walk checks shapes (which keys, which types, exactly one
// action); the values themselves (regexes, CIDRs, header names, statuses, backend names) are
// validate()'s, in validate_routes.cc, so hand-built configs meet the same rules.
#include "config/checks.h"
#include "config/walker.h"

namespace fulcrum::config::detail {
namespace {

constexpr std::string_view kActions[] = {"backend", "split", "redirect", "respond"};
constexpr std::string_view kPathKeys[] = {"path", "path_prefix", "path_regex"};

// "'a' and 'b'" or "'a', 'b' and 'c'".
std::string and_list(const std::vector<std::string>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += i + 1 == keys.size() ? " and " : ", ";
    out += "'" + keys[i] + "'";
  }
  return out;
}

}  // namespace

void Walker::read_error_bodies(const Field& f, std::map<int, std::string>& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping of status: body (e.g. 503: \"try again\"), got ") +
              kind_name(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    Mark key_mark = mark(key);
    std::string status_text = key.IsScalar() ? key.Scalar() : "";
    auto status = parse_uint(status_text, 999);
    if (!key.IsScalar() || !status || *status < 100) {
      error(key_mark, f.path,
            "expected an HTTP status code as the key (400, 404, 408, 413, 414, 431, 502, 503 "
            "or 504), got " +
                (key.IsScalar() ? quote(status_text) : std::string(kind_name(key))),
            false);
      continue;
    }
    Field entry{status_text, f.path + "." + std::to_string(*status), value, key_mark, key_mark};
    if (!value.IsNull()) entry.mark = mark(value);
    if (out.contains(static_cast<int>(*status))) {
      error(key_mark, entry.path, "status " + std::to_string(*status) + " is given twice", false);
      continue;
    }
    marks[entry.path] = key_mark;
    if (auto t = text(entry, "expected the body text")) out[static_cast<int>(*status)] = *t;
  }
}

void Walker::read_access_log(const Field& f, AccessLogConfig& out) {
  out.enabled = true;  // the key's presence turns the log on; `access_log:` alone is enough
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (format:, path:); leave access_log out to turn the "
                      "log off, got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  KeyMarks unused;
  for_each_field(f.value, f.path, {"format", "path"}, unused, [&](const Field& g) {
    if (g.key == "format") {
      read_enum(g, {AccessLogConfig::Format::kCombined, AccessLogConfig::Format::kJson},
                out.format);
    } else if (auto t = text(g, "expected stdout, stderr or an absolute file path")) {
      out.path = *t;
    }
  });
}

RouteConfig Walker::read_route(const YAML::Node& n, const std::string& path, size_t index) {
  RouteConfig r;
  r.name = "route-" + std::to_string(index + 1);
  if (!n.IsMap()) {
    error(marks[path], path,
          std::string("expected a route (a mapping with match: and an action such as backend:), "
                      "got ") +
              kind_name(n));
    return r;
  }
  std::vector<std::string> actions;  // action keys in the order written
  std::string regex_key;             // set when rewrite has both regex and replace
  KeyMarks km;
  for_each_field(
      n, path,
      {"name", "match", "backend", "split", "redirect", "respond", "request_headers",
       "response_headers", "rewrite"},
      km, [&](const Field& f) {
        if (std::find(std::begin(kActions), std::end(kActions), f.key) != std::end(kActions)) {
          actions.push_back(f.key);
          if (actions.size() > 1) {
            error(f.key_mark, path,
                  "a route takes exactly one action (backend, split, redirect or respond); this "
                  "one has " +
                      and_list(actions),
                  false);
            covered.push_back({f.path, true});
            return;
          }
        }
        if (f.key == "name") {
          read_name(f, r.name);
        } else if (f.key == "match") {
          read_match(f, r.match);
        } else if (f.key == "backend") {
          r.action = RouteConfig::Action::kForward;
          read_name(f, r.backend);
        } else if (f.key == "split") {
          r.action = RouteConfig::Action::kSplit;
          read_split(f, r.split);
        } else if (f.key == "redirect") {
          r.action = RouteConfig::Action::kRedirect;
          if (!f.value.IsMap()) {
            error(f.mark, f.path,
                  std::string("expected a mapping (to:, status:), got ") + kind_name(f.value));
            return;
          }
          KeyMarks unused;
          for_each_field(f.value, f.path, {"to", "status"}, unused, [&](const Field& g) {
            if (g.key == "to") {
              if (auto t = text(g, "expected the target URL")) r.redirect_to = *t;
            } else {
              read_status(g, r.redirect_status);
            }
          });
          if (!unused.by_key.contains("to")) {
            error(f.mark, f.path + ".to", "to is required: where to send the client", false);
          }
        } else if (f.key == "respond") {
          r.action = RouteConfig::Action::kRespond;
          if (!f.value.IsMap()) {
            error(f.mark, f.path,
                  std::string("expected a mapping (status:, body:, content_type:), got ") +
                      kind_name(f.value));
            return;
          }
          KeyMarks unused;
          for_each_field(f.value, f.path, {"status", "body", "content_type"}, unused,
                         [&](const Field& g) {
                           if (g.key == "status") {
                             read_status(g, r.respond_status);
                           } else if (g.key == "body") {
                             if (auto t = text(g, "expected the body text")) r.respond_body = *t;
                           } else if (auto t = text(g, "expected a media type like text/plain")) {
                             r.respond_content_type = *t;
                           }
                         });
        } else if (f.key == "request_headers") {
          read_header_ops(f, r.request_headers);
        } else if (f.key == "response_headers") {
          read_header_ops(f, r.response_headers);
        } else if (f.key == "rewrite") {
          read_rewrite(f, r);
        }
      });
  if (actions.empty()) {
    error(marks[path], path, "a route needs an action: one of backend, split, redirect or respond",
          false);
    covered.push_back({path + ".backend", false});  // the default action's missing backend
  }
  return r;
}

void Walker::read_match(const Field& f, RouteMatch& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping of conditions (host:, path_prefix:, ...), got ") +
              kind_name(f.value));
    return;
  }
  std::vector<std::string> path_keys;
  KeyMarks unused;
  for_each_field(
      f.value, f.path,
      {"host", "path", "path_prefix", "path_regex", "method", "headers", "query", "cookies",
       "source"},
      unused, [&](const Field& g) {
        if (std::find(std::begin(kPathKeys), std::end(kPathKeys), g.key) != std::end(kPathKeys)) {
          path_keys.push_back(g.key);
          if (path_keys.size() > 1) {
            error(g.key_mark, f.path,
                  "a match takes at most one of path, path_prefix and path_regex; this one has " +
                      and_list(path_keys),
                  false);
            covered.push_back({g.path, true});
            return;
          }
          auto t = text(g, g.key == "path_regex" ? "expected a regular expression"
                                                 : "expected a path starting with '/'");
          if (!t) return;
          out.path = *t;
          out.path_kind = g.key == "path"          ? RouteMatch::PathKind::kExact
                          : g.key == "path_prefix" ? RouteMatch::PathKind::kPrefix
                                                   : RouteMatch::PathKind::kRegex;
        } else if (g.key == "host") {
          read_texts(g, "host names", "a host name", true, out.hosts);
        } else if (g.key == "method") {
          read_texts(g, "methods", "a method", true, out.methods);
        } else if (g.key == "headers") {
          read_field_matches(g, "header", out.headers);
        } else if (g.key == "query") {
          read_field_matches(g, "query parameter", out.query);
        } else if (g.key == "cookies") {
          read_field_matches(g, "cookie", out.cookies);
        } else if (g.key == "source") {
          read_texts(g, "addresses or CIDRs", "an address or CIDR", true, out.sources);
        }
      });
}

void Walker::read_field_matches(const Field& f, std::string_view what,
                                std::vector<FieldMatch>& out) {
  const std::string want = "a " + std::string(what) +
                           " condition ({name: N}, {name: N, value: V} "
                           "or {name: N, regex: R})";
  if (!f.value.IsSequence()) {
    error(f.mark, f.path,
          "expected a list of " + std::string(what) + " conditions, got " + kind_name(f.value));
    return;
  }
  for_each_item(f, [&](const Field& item, size_t) {
    if (!item.value.IsMap()) {
      error(item.mark, item.path, "expected " + want + ", got " + kind_name(item.value));
      return;
    }
    FieldMatch m;
    std::vector<std::string> kinds;
    KeyMarks km;
    for_each_field(item.value, item.path, {"name", "value", "regex"}, km, [&](const Field& g) {
      if (g.key == "name") {
        read_name(g, m.name);
        return;
      }
      kinds.push_back(g.key);
      if (kinds.size() > 1) {
        error(g.key_mark, item.path, "give value (equal to) or regex (matching), not both", false);
        return;
      }
      // An empty value is a real condition (the field is there and empty).
      if (auto t = text(g, g.key == "value" ? "expected the value" : "expected a regex")) {
        m.value = *t;
        m.kind = g.key == "value" ? FieldMatch::Kind::kEquals : FieldMatch::Kind::kRegex;
      }
    });
    if (!km.by_key.contains("name")) {
      error(item.mark, item.path + ".name",
            "name is required: the " + std::string(what) + "'s name");
    }
    out.push_back(std::move(m));
  });
}

void Walker::read_split(const Field& f, std::vector<WeightedBackend>& out) {
  if (!expect_list(f, "{backend: NAME, weight: N} items")) return;
  for_each_item(f, [&](const Field& item, size_t) {
    WeightedBackend w;
    if (!item.value.IsMap()) {
      error(item.mark, item.path,
            std::string("expected {backend: NAME, weight: N}, got ") + kind_name(item.value));
      out.push_back(w);
      return;
    }
    KeyMarks km;
    for_each_field(item.value, item.path, {"backend", "weight"}, km, [&](const Field& g) {
      if (g.key == "backend") {
        read_name(g, w.backend);
      } else {
        read_uint(g, 0, 10000, w.weight);
      }
    });
    out.push_back(std::move(w));
  });
}

void Walker::read_header_ops(const Field& f, HeaderOps& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (set:, add:, remove:), got ") + kind_name(f.value));
    return;
  }
  KeyMarks unused;
  for_each_field(f.value, f.path, {"set", "add", "remove"}, unused, [&](const Field& g) {
    if (g.key == "set") {
      read_header_map(g, out.set);
    } else if (g.key == "add") {
      read_header_map(g, out.add);
    } else {
      read_texts(g, "header names", "a header name", true, out.remove);
    }
  });
}

void Walker::read_header_map(const Field& f,
                             std::vector<std::pair<std::string, std::string>>& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping of Header-Name: value, got ") + kind_name(f.value));
    return;
  }
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    YAML::Node key = it->first;
    YAML::Node value = it->second;
    if (!key.IsScalar()) {
      error(mark(key), f.path, std::string("expected a header name, got ") + kind_name(key), false);
      continue;
    }
    Field entry{key.Scalar(), entry_path(f.path, key.Scalar()), value, mark(key), mark(key)};
    if (!value.IsNull()) entry.mark = mark(value);
    marks[entry.path] = entry.key_mark;  // validate() mostly has the name to complain about
    auto v = text(entry, "expected the header's value");
    if (!v) continue;
    // Said here rather than left to validate(), to point at the value rather than the name.
    if (has_control(*v, true)) {
      error(
          entry.mark, entry.path,
          "header value must not contain line breaks or other control characters, got " + quote(*v),
          false);
      covered.push_back({entry.path, false});
    }
    out.emplace_back(key.Scalar(), *v);
  }
}

void Walker::read_rewrite(const Field& f, RouteConfig& out) {
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (strip_prefix:, regex:, replace:), got ") +
              kind_name(f.value));
    return;
  }
  KeyMarks km;
  for_each_field(f.value, f.path, {"strip_prefix", "regex", "replace"}, km, [&](const Field& g) {
    auto t = text(g, g.key == "regex" ? "expected a regular expression" : "expected a path");
    if (!t) return;
    (g.key == "strip_prefix" ? out.strip_prefix
     : g.key == "regex"      ? out.rewrite_regex
                             : out.rewrite_replace) = *t;
  });
  bool regex = km.by_key.contains("regex"), replace = km.by_key.contains("replace");
  if (regex != replace) {
    const char* missing = regex ? "replace" : "regex";
    error(f.mark, f.path + "." + missing,
          std::string(missing) + " is required with " + (regex ? "regex" : "replace") +
              ": regex finds what to change, replace says what it becomes",
          false);
  }
}

}  // namespace fulcrum::config::detail
