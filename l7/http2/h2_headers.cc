#include "l7/http2/h2_headers.h"

#include <cctype>
#include <charconv>

namespace fulcrum::l7::http2 {

using http1::iequals;

bool H2Request::add(std::string_view name, std::string_view value, std::uint64_t limit) {
  list_size += name.size() + value.size() + 32;
  if (list_size > limit) return false;
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") {
      method.assign(value);
    } else if (name == ":scheme") {
      scheme.assign(value);
    } else if (name == ":authority") {
      authority.assign(value);
    } else if (name == ":path") {
      path.assign(value);
    }
    return true;
  }
  fields.emplace_back(name, value);
  return true;
}

http1::Method method_id(std::string_view m) {
  using http1::Method;
  static constexpr std::pair<std::string_view, Method> kMethods[] = {
      {"GET", Method::kGet},         {"HEAD", Method::kHead},     {"POST", Method::kPost},
      {"PUT", Method::kPut},         {"DELETE", Method::kDelete}, {"CONNECT", Method::kConnect},
      {"OPTIONS", Method::kOptions}, {"TRACE", Method::kTrace},   {"PATCH", Method::kPatch}};
  for (const auto& [name, id] : kMethods) {
    if (m == name) return id;
  }
  return Method::kOther;
}

int to_request_head(const H2Request& req, bool end_stream, std::string& cookie,
                    http1::RequestHead& out) {
  out.header_count = 0;
  out.method = req.method;
  out.method_id = method_id(req.method);
  out.target = req.path;
  out.version_minor = 1;
  out.keep_alive = true;
  out.connection_upgrade = false;
  out.expect_continue = false;
  out.host = req.authority;
  out.body = end_stream ? http1::BodyKind::kNone : http1::BodyKind::kChunked;
  out.content_length = 0;
  cookie.clear();
  // Room for the chunked framing field.
  const std::size_t max_fields = http1::kMaxHeaders - 1;
  for (const auto& [name, value] : req.fields) {
    if (name == "cookie") {
      if (!cookie.empty()) cookie.append("; ");
      cookie.append(value);
      continue;
    }
    if (name == "host" && out.host.empty()) out.host = value;
    if (name == "content-length" && !end_stream) {
      std::uint64_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size()) return 400;
      out.body = http1::BodyKind::kContentLength;
      out.content_length = n;
    }
    if (name == "expect" && iequals(value, "100-continue")) out.expect_continue = true;
    if (out.header_count >= max_fields) return 431;
    out.headers[out.header_count++] = {name, value};
  }
  if (!cookie.empty()) {
    if (out.header_count >= max_fields) return 431;
    out.headers[out.header_count++] = {"cookie", cookie};
  }
  if (out.host.empty()) return 400;  // RFC 9113 §8.3.1: :authority or Host is required
  if (out.body == http1::BodyKind::kChunked) {
    out.headers[out.header_count++] = {"transfer-encoding", "chunked"};
  }
  return 0;
}

std::size_t head_size_hint(const http1::RequestHead& head) {
  std::size_t n = head.method.size() + head.target.size() + head.host.size() + 32;
  for (std::size_t i = 0; i < head.header_count; ++i) {
    n += head.headers[i].name.size() + head.headers[i].value.size() + 4;
  }
  return n;
}

namespace {

// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2.
bool connection_specific(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "transfer-encoding") ||
         iequals(name, "upgrade") || iequals(name, "te") || iequals(name, "trailer");
}

bool named_by_connection(const http1::ResponseHead& h, std::string_view name) {
  for (std::size_t i = 0; i < h.header_count; ++i) {
    if (!iequals(h.headers[i].name, "connection")) continue;
    std::string_view v = h.headers[i].value;
    while (!v.empty()) {
      const std::size_t comma = v.find(',');
      std::string_view tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (iequals(tok, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

}  // namespace

namespace {

// Collects fields as offsets into `store` (which may reallocate while it grows), then points
// the nghttp2_nv array into it once complete.
class NvBuilder {
 public:
  explicit NvBuilder(std::string& store) : store_(store) { store_.clear(); }
  void put(std::string_view name, std::string_view value) {
    Span s{store_.size(), name.size(), 0, value.size()};
    for (char c : name) {
      store_.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    s.value = store_.size();
    store_.append(value);
    spans_.push_back(s);
  }
  // ops' set/add fields and extra "Name: value\r\n" lines (sticky cookie, HSTS).
  void put_rules(const CompiledHeaderOps* ops, std::string_view extra_line,
                 std::string_view extra_line2) {
    if (ops) {
      for (const auto* list : {&ops->set, &ops->add}) {
        for (const auto& [name, value] : *list) put(name, value);
      }
    }
    for (std::string_view line : {extra_line, extra_line2}) {
      if (line.empty()) continue;
      const std::size_t colon = line.find(':');
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
        value.remove_suffix(1);
      }
      put(line.substr(0, colon), value);
    }
  }
  void finish(std::vector<nghttp2_nv>& nva) {
    nva.clear();
    for (const Span& s : spans_) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(store_.data() + s.name),
                     reinterpret_cast<std::uint8_t*>(store_.data() + s.value), s.name_len,
                     s.value_len, NGHTTP2_NV_FLAG_NONE});
    }
  }

 private:
  struct Span {
    std::size_t name, name_len, value, value_len;
  };
  std::string& store_;
  std::vector<Span> spans_;
};

}  // namespace

void to_response_nva(const http1::ResponseHead& h, const CompiledHeaderOps* ops,
                     std::string_view extra_line, std::string& store, std::vector<nghttp2_nv>& nva,
                     std::string_view extra_line2) {
  NvBuilder b(store);
  b.put(":status", std::to_string(h.status));
  for (std::size_t i = 0; i < h.header_count; ++i) {
    const auto& f = h.headers[i];
    if (connection_specific(f.name)) continue;
    if (ops && ops->drops(f.name) && !iequals(f.name, "content-length")) continue;
    if (!iequals(f.name, "content-length") && named_by_connection(h, f.name)) continue;
    b.put(f.name, f.value);
  }
  b.put_rules(ops, extra_line, extra_line2);
  b.finish(nva);
}

bool to_upstream_nva(std::string_view h1_head, bool te_trailers, http1::RequestHead& h,
                     std::string& store, std::vector<nghttp2_nv>& nva, bool https) {
  http1::Limits limits;
  limits.max_head = h1_head.size() + 1;
  limits.max_request_line = limits.max_head;
  limits.max_headers = http1::kMaxHeaders;
  if (http1::parse_request_head(h1_head, h, limits).status != http1::ParseStatus::kComplete) {
    return false;
  }
  NvBuilder b(store);
  b.put(":method", h.method);
  b.put(":scheme", https ? "https" : "http");
  b.put(":authority", h.host);
  b.put(":path", h.target);
  for (std::size_t i = 0; i < h.header_count; ++i) {
    const auto& f = h.headers[i];
    if (connection_specific(f.name) || iequals(f.name, "host")) continue;
    b.put(f.name, f.value);
  }
  if (te_trailers) b.put("te", "trailers");
  b.finish(nva);
  return true;
}

void to_client_nva(int status, const H2Fields& fields, const CompiledHeaderOps* ops,
                   std::string_view extra_line, std::string& store, std::vector<nghttp2_nv>& nva,
                   std::string_view extra_line2) {
  NvBuilder b(store);
  if (status > 0) b.put(":status", std::to_string(status));
  for (const auto& [name, value] : fields) {
    if (connection_specific(name)) continue;
    if (ops && ops->drops(name) && name != "content-length") continue;
    b.put(name, value);
  }
  b.put_rules(ops, extra_line, extra_line2);
  b.finish(nva);
}

}  // namespace fulcrum::l7::http2
