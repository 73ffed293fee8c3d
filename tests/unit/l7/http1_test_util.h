// tests/unit/l7/http1_test_util.h — shorthands shared by the HTTP/1 codec tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "l7/http1/parser.h"

namespace fulcrum::l7::http1::testing {

// 0 for kComplete, -1 for kIncomplete, the error status otherwise: one int a table can hold.
inline int outcome(const ParseResult& r) {
  switch (r.status) {
    case ParseStatus::kComplete:
      return 0;
    case ParseStatus::kIncomplete:
      return -1;
    case ParseStatus::kError:
      return r.error_status;
  }
  return -2;
}

inline constexpr int kOk = 0;
inline constexpr int kMore = -1;

// Heads are 4 KiB+; keep them off the test's stack frames.
inline int request_outcome(std::string_view in, const Limits& limits = Limits{}) {
  auto head = std::make_unique<RequestHead>();
  return outcome(parse_request_head(in, *head, limits));
}

inline int response_outcome(std::string_view in, Method method = Method::kGet,
                            const Limits& limits = Limits{}) {
  auto head = std::make_unique<ResponseHead>();
  return outcome(parse_response_head(in, *head, limits, method));
}

// A GET request with a Host and the given extra field lines (each ending in CRLF).
inline std::string get_with(std::string_view fields) {
  return "GET / HTTP/1.1\r\nHost: example.com\r\n" + std::string(fields) + "\r\n";
}

}  // namespace fulcrum::l7::http1::testing
