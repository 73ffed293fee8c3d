// config/http2_loader.cc — the `http2:` block of an HTTP listener.
#include <string>

#include "config/walker.h"

namespace fulcrum::config::detail {

void Walker::read_http2(const Field& f, Http2Config& out) {
  if (f.value.IsNull()) return;
  if (!f.value.IsMap()) {
    error(f.mark, f.path,
          std::string("expected a mapping (h2c:, max_concurrent_streams:, max_header_list_size:, "
                      "initial_window_size:, max_frame_size:), got ") +
              (f.value.IsScalar() ? quote(f.value.Scalar()) : kind_name(f.value)));
    return;
  }
  // Sizes are checked against what HTTP/2 can express (RFC 9113 §6.5.2) and what keeps a
  // connection's memory bounded.
  auto sized = [&](const Field& g, Size& v, Size lo, Size hi, const char* lo_text,
                   const char* hi_text) {
    auto t = text(g, "expected a size like 64KiB");
    if (!t) return;
    std::string why;
    const auto read = parse_size(*t, &why);
    if (!read) return bad_value(g, why, *t);
    if (*read < lo || *read > hi) {
      return bad_value(g, std::string("expected a size from ") + lo_text + " to " + hi_text, *t);
    }
    v = *read;
  };
  KeyMarks unused;
  for_each_field(f.value, f.path,
                 {"h2c", "max_concurrent_streams", "max_header_list_size", "initial_window_size",
                  "max_frame_size"},
                 unused, [&](const Field& g) {
                   if (g.key == "h2c") {
                     read_bool(g, out.h2c);
                   } else if (g.key == "max_concurrent_streams") {
                     read_uint(g, 1, 10000, out.max_concurrent_streams);
                   } else if (g.key == "max_header_list_size") {
                     sized(g, out.max_header_list_size, 1024, 16 * 1024 * 1024, "1KiB", "16MiB");
                   } else if (g.key == "initial_window_size") {
                     sized(g, out.initial_window_size, 1024, 16 * 1024 * 1024, "1KiB", "16MiB");
                   } else {
                     sized(g, out.max_frame_size, 16384, 16777215, "16KiB", "16777215");
                   }
                 });
}

}  // namespace fulcrum::config::detail
