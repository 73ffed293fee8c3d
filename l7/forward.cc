#include "l7/forward.h"

#include <fmt/format.h>

#include <array>
#include <cstdio>

namespace fulcrum::l7 {

using http1::iequals;

namespace {

// Small append helper that tracks overflow instead of checking every call site.
struct Writer {
  Buffer& out;
  bool ok = true;
  void put(std::string_view s) {
    if (!ok || s.size() > out.tail_room()) {
      ok = false;
      return;
    }
    out.append(s);
  }
};

constexpr std::size_t kMaxConnectionTokens = 16;

struct ConnectionTokens {
  std::array<std::string_view, kMaxConnectionTokens> names{};
  std::size_t count = 0;
  bool contains(std::string_view name) const {
    for (std::size_t i = 0; i < count; ++i) {
      if (iequals(names[i], name)) return true;
    }
    return false;
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ConnectionTokens connection_tokens(const http1::HeadCommon& h) {
  ConnectionTokens t;
  for (std::size_t i = 0; i < h.header_count; ++i) {
    if (!iequals(h.headers[i].name, "connection")) continue;
    std::string_view v = h.headers[i].value;
    while (!v.empty()) {
      std::size_t comma = v.find(',');
      std::string_view tok = trim(v.substr(0, comma));
      if (!tok.empty() && t.count < kMaxConnectionTokens) t.names[t.count++] = tok;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return t;
}

// Fields that describe one hop only (RFC 9110 §7.6.1) plus the legacy Proxy-Connection.
bool is_hop_by_hop(std::string_view name, bool keep_upgrade) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || (!keep_upgrade && iequals(name, "upgrade"));
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    default:
      return false;
  }
}

// A Connection header can name any field as hop-by-hop. Framing fields are never dropped that
// way: "Connection: content-length" would otherwise strip the length and smuggle the body.
bool protected_field(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "host");
}

bool is_forwarding_field(std::string_view name) {
  switch (name.size()) {
    case 9:
      return iequals(name, "forwarded");
    case 15:
      return iequals(name, "x-forwarded-for");
    case 16:
      return iequals(name, "x-forwarded-host");
    case 17:
      return iequals(name, "x-forwarded-proto");
    default:
      return false;
  }
}

void put_content_length(Writer& w, std::uint64_t n) {
  char digits[24];
  const int len = std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(n));
  w.put("Content-Length: ");
  w.put({digits, static_cast<std::size_t>(len)});
  w.put("\r\n");
}

// Values of the forwarding fields a trusted client sent, to be merged with this hop's.
struct Forwarding {
  static constexpr std::size_t kMax = 8;
  std::array<std::string_view, kMax> xff{}, forwarded{};
  std::size_t xff_count = 0, forwarded_count = 0;
  bool has_proto = false, has_host = false;
};

void put_fields(Writer& w, const http1::HeadCommon& h, bool keep_upgrade, bool drop_forwarding,
                const CompiledHeaderOps* ops, std::string_view host = {},
                Forwarding* trusted = nullptr, bool drop_chunked = false,
                std::string_view drop = {}) {
  if (!host.empty()) {
    w.put("Host: ");
    w.put(host);
    w.put("\r\n");
  }
  const ConnectionTokens conn = connection_tokens(h);
  bool wrote_length = false;
  for (std::size_t i = 0; i < h.header_count; ++i) {
    const auto& f = h.headers[i];
    if (is_hop_by_hop(f.name, keep_upgrade)) continue;
    if (drop_forwarding && is_forwarding_field(f.name)) {
      if (!trusted) continue;
      if (iequals(f.name, "x-forwarded-for")) {
        if (trusted->xff_count < Forwarding::kMax) trusted->xff[trusted->xff_count++] = f.value;
        continue;
      }
      if (iequals(f.name, "forwarded")) {
        if (trusted->forwarded_count < Forwarding::kMax) {
          trusted->forwarded[trusted->forwarded_count++] = f.value;
        }
        continue;
      }
      trusted->has_proto = trusted->has_proto || iequals(f.name, "x-forwarded-proto");
      trusted->has_host = trusted->has_host || iequals(f.name, "x-forwarded-host");
    }
    if (ops && ops->drops(f.name) && !protected_field(f.name)) continue;
    if (!drop.empty() && iequals(f.name, drop)) continue;
    if (!host.empty() && iequals(f.name, "host")) continue;
    // An HTTP/1.0 client gets the body de-chunked and delimited by the close (RFC 9112 §6.1).
    if (drop_chunked && iequals(f.name, "transfer-encoding")) continue;
    if (h.body == http1::BodyKind::kContentLength && iequals(f.name, "content-length")) {
      // Repeated identical values ("5, 5" or two fields) were accepted as one; the next hop
      // gets exactly one, so it cannot read them differently.
      if (!wrote_length) put_content_length(w, h.content_length);
      wrote_length = true;
      continue;
    }
    if (conn.count && conn.contains(f.name) && !protected_field(f.name)) {
      if (!(keep_upgrade && iequals(f.name, "upgrade"))) continue;
    }
    w.put(f.name);
    w.put(": ");
    w.put(f.value);
    w.put("\r\n");
  }
  if (!ops) return;
  for (const auto* list : {&ops->set, &ops->add}) {
    for (const auto& [name, value] : *list) {
      w.put(name);
      w.put(": ");
      w.put(value);
      w.put("\r\n");
    }
  }
}

}  // namespace

bool write_request_head(Buffer& out, const http1::RequestHead& h, const ClientInfo& client,
                        bool upgrade, std::string_view target, const CompiledHeaderOps* ops,
                        std::string_view host) {
  Writer w{out};
  w.put(h.method);
  w.put(" ");
  w.put(target.empty() ? h.target : target);
  w.put(" HTTP/1.1\r\n");
  // Client-sent forwarding fields are dropped unless the client is a trusted proxy: only what
  // this proxy saw (or a proxy it trusts said) is worth passing on.
  Forwarding prior;
  put_fields(w, h, upgrade, /*drop_forwarding=*/true, ops, host, client.trusted ? &prior : nullptr,
             false, client.subject_field);
  if (!client.subject.empty()) {
    w.put(client.subject_field);
    w.put(": ");
    w.put(client.subject);
    w.put("\r\n");
  }
  if (upgrade) w.put("Connection: upgrade\r\n");
  w.put("X-Forwarded-For: ");
  for (std::size_t i = 0; i < prior.xff_count; ++i) {
    w.put(prior.xff[i]);
    w.put(", ");
  }
  w.put(client.ip);
  w.put("\r\n");
  if (!prior.has_proto) {
    w.put("X-Forwarded-Proto: ");
    w.put(client.proto);
    w.put("\r\n");
  }
  const std::string_view fwd_host = host.empty() ? h.host : host;
  if (!fwd_host.empty() && !prior.has_host) {
    w.put("X-Forwarded-Host: ");
    w.put(fwd_host);
    w.put("\r\n");
  }
  w.put("Forwarded: ");
  for (std::size_t i = 0; i < prior.forwarded_count; ++i) {
    w.put(prior.forwarded[i]);
    w.put(", ");
  }
  // RFC 7239: an IPv6 node must be quoted and bracketed.
  w.put(client.ipv6 ? "for=\"[" : "for=");
  w.put(client.ip);
  w.put(client.ipv6 ? "]\";proto=" : ";proto=");
  w.put(client.proto);
  if (!fwd_host.empty()) {
    w.put(";host=\"");
    w.put(fwd_host);
    w.put("\"");
  }
  w.put(h.version_minor == 0 ? "\r\nVia: 1.0 fulcrum\r\n\r\n" : "\r\nVia: 1.1 fulcrum\r\n\r\n");
  return w.ok;
}

bool write_response_head(Buffer& out, const http1::ResponseHead& h, bool keep_alive,
                         std::uint8_t client_minor, const CompiledHeaderOps* ops,
                         std::string_view extra, std::string_view extra2) {
  Writer w{out};
  char status[5] = {' ', static_cast<char>('0' + h.status / 100),
                    static_cast<char>('0' + h.status / 10 % 10),
                    static_cast<char>('0' + h.status % 10), ' '};
  w.put("HTTP/1.1");
  w.put({status, 5});
  w.put(h.reason);
  w.put("\r\n");
  const bool upgrade = h.status == 101;
  put_fields(w, h, upgrade, /*drop_forwarding=*/false, ops, {}, nullptr,
             /*drop_chunked=*/client_minor == 0 && h.body == http1::BodyKind::kChunked);
  w.put(extra);
  w.put(extra2);
  if (upgrade) {
    w.put("Connection: upgrade\r\n");
  } else if (!keep_alive) {
    w.put("Connection: close\r\n");
  } else if (client_minor == 0) {
    w.put("Connection: keep-alive\r\n");
  }
  w.put("\r\n");
  return w.ok;
}

std::string_view status_text(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 410:
      return "Gone";
    case 418:
      return "I'm a teapot";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

void write_error_response(Buffer& out, int status, bool keep_alive, std::string_view body,
                          bool head_only, std::string_view extra) {
  const std::string_view text = status_text(status);
  const std::string fallback = fmt::format("{} {}\n", status, text);
  if (body.empty()) body = fallback;
  std::string msg =
      fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}{}\r\n{}",
                  status, text, body.size(), extra, keep_alive ? "" : "Connection: close\r\n",
                  head_only ? std::string_view{} : body);
  Writer w{out};
  w.put(msg);
}

}  // namespace fulcrum::l7
