#include "l7/request_keys.h"

#include <re2/re2.h>

#include "balance/sticky_table.h"

namespace fulcrum::l7 {

std::uint64_t request_hash(const Backend& backend, const http1::RequestHead& h,
                           std::string_view path, std::string_view query,
                           const asio::ip::address& client) {
  const config::HashKey& key = backend.hash_key;
  switch (key.kind) {
    case config::HashKey::Kind::kSource:
      return balance::hash_of(client);
    case config::HashKey::Kind::kPath:
      return balance::hash_of(path);
    case config::HashKey::Kind::kHeader:
      for (std::size_t i = 0; i < h.header_count; ++i) {
        if (http1::iequals(h.headers[i].name, key.name))
          return balance::hash_of(h.headers[i].value);
      }
      return 0;
    case config::HashKey::Kind::kQuery:
    case config::HashKey::Kind::kCookie: {
      const bool cookie = key.kind == config::HashKey::Kind::kCookie;
      auto find = [&](std::string_view list, char sep) -> std::uint64_t {
        std::uint64_t hash = 0;
        for_each_pair(list, sep, [&](std::string_view n, std::string_view v) {
          if (n != key.name) return false;
          hash = balance::hash_of(v);
          return true;
        });
        return hash;
      };
      if (!cookie) return find(query, '&');
      for (std::size_t i = 0; i < h.header_count; ++i) {
        if (!http1::iequals(h.headers[i].name, "cookie")) continue;
        if (std::uint64_t v = find(h.headers[i].value, ';')) return v;
      }
      return 0;
    }
  }
  return 0;
}

const balance::Server* sticky_server(const Backend& backend, const http1::RequestHead& h,
                                     std::uint64_t& sticky_key) {
  sticky_key = 0;
  std::string_view token;
  for (std::size_t i = 0; i < h.header_count && token.empty(); ++i) {
    if (!http1::iequals(h.headers[i].name, "cookie")) continue;
    for_each_pair(h.headers[i].value, ';', [&](std::string_view n, std::string_view v) {
      if (n != backend.sticky_cookie) return false;
      token = v;
      return true;
    });
  }
  if (token.empty()) return nullptr;
  if (backend.sticky_table) {
    sticky_key = balance::hash_of(token);
    const auto id = backend.sticky_table->find(sticky_key, balance::StickyTable::now());
    return id ? backend.server_by_id(*id) : nullptr;
  }
  for (const auto& s : backend.servers) {
    if (s->sticky_token == token) return s.get();
  }
  return nullptr;
}

void learn_sticky(const Backend& backend, const http1::ResponseHead& h,
                  const balance::Server& server, const balance::Server* sticky,
                  std::uint64_t sticky_key) {
  balance::StickyTable& table = *backend.sticky_table;
  const std::uint32_t now = balance::StickyTable::now();
  bool set = false;
  for (std::size_t i = 0; i < h.header_count; ++i) {
    if (!http1::iequals(h.headers[i].name, "set-cookie")) continue;
    // Set-Cookie: NAME=VALUE; attributes (RFC 6265 §4.1.1): only the first pair names it.
    std::string_view v = h.headers[i].value;
    const std::size_t eq = v.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = v.substr(0, eq);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (name != backend.sticky_cookie) continue;
    std::string_view value = v.substr(eq + 1);
    value = value.substr(0, value.find(';'));
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (value.empty()) continue;  // a cookie being deleted names no session
    table.learn(balance::hash_of(value), server.id, now);
    set = true;
  }
  if (!set && sticky_key != 0 && sticky != &server) table.learn(sticky_key, server.id, now);
}

std::string_view rewrite_target(const Route* route, std::string_view path, std::string_view query,
                                std::string& out) {
  out.assign(path);
  if (route) {
    const std::string& prefix = route->strip_prefix;
    if (!prefix.empty() && out.compare(0, prefix.size(), prefix) == 0) {
      out.erase(0, prefix.size());
      if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
    }
    if (route->rewrite_regex) {
      re2::RE2::Replace(&out, *route->rewrite_regex, route->rewrite_replace);
    }
  }
  if (!query.empty()) {
    out.push_back('?');
    out.append(query);
  }
  return out;
}

}  // namespace fulcrum::l7
