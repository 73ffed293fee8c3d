#include "l7/demo_server.h"

#include <fmt/format.h>

#include <asio/write.hpp>

#include "l7/http1/parser.h"

namespace fulcrum::l7 {

using asio::ip::tcp;

namespace {

// One connection; owned by its pending handlers (shared_from_this).
class DemoConn : public std::enable_shared_from_this<DemoConn> {
 public:
  DemoConn(tcp::socket s, std::string name) : sock_(std::move(s)), name_(std::move(name)) {}
  void start() { read_more(); }

 private:
  void read_more() {
    if (in_.size() > 64 * 1024) return;  // a head this large is abuse: drop the connection
    const std::size_t old = in_.size();
    in_.resize(old + 4096);
    sock_.async_read_some(
        asio::buffer(in_.data() + old, 4096),
        [self = shared_from_this(), old](const std::error_code& ec, std::size_t n) {
          self->in_.resize(old + n);
          if (ec) return;
          self->process();
        });
  }

  void process() {
    for (;;) {
      if (skip_ > 0) {  // body bytes of a content-length request, discarded
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, in_.size()));
        in_.erase(0, k);
        skip_ -= k;
        if (skip_ > 0) return read_more();
      }
      if (chunked_) {
        if (in_.empty()) return read_more();
        const auto step = decoder_.feed(in_);
        if (step.status == http1::ParseStatus::kError) return;
        in_.erase(0, step.consumed);
        if (step.status != http1::ParseStatus::kComplete) return read_more();
        chunked_ = false;
        decoder_.reset();
        continue;
      }
      if (in_.empty()) return read_more();
      http1::RequestHead h;
      const auto r = http1::parse_request_head(in_, h, http1::Limits{});
      if (r.status == http1::ParseStatus::kIncomplete) return read_more();
      if (r.status == http1::ParseStatus::kError) {
        return reply(fmt::format("HTTP/1.1 {} Bad Request\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n",
                                 r.error_status),
                     false);
      }
      const std::string body = fmt::format("{}\n{} {} HTTP/1.{}\n", name_, h.method, h.target,
                                           static_cast<int>(h.version_minor));
      const bool head = h.method_id == http1::Method::kHead;
      std::string out = fmt::format(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
          "X-Served-By: {}\r\n{}\r\n{}",
          body.size(), name_, h.keep_alive ? "" : "Connection: close\r\n", head ? "" : body);
      const bool keep = h.keep_alive;
      if (h.body == http1::BodyKind::kContentLength) skip_ = h.content_length;
      chunked_ = h.body == http1::BodyKind::kChunked;
      in_.erase(0, h.head_size);
      return reply(std::move(out), keep);
    }
  }

  void reply(std::string out, bool keep) {
    auto data = std::make_shared<std::string>(std::move(out));
    asio::async_write(
        sock_, asio::buffer(*data),
        [self = shared_from_this(), data, keep](const std::error_code& ec, std::size_t) {
          if (ec) return;
          if (!keep) {
            std::error_code ignored;
            self->sock_.shutdown(tcp::socket::shutdown_send, ignored);
            return;
          }
          self->process();
        });
  }

  tcp::socket sock_;
  std::string name_;
  std::string in_;
  std::uint64_t skip_ = 0;
  bool chunked_ = false;
  http1::ChunkedDecoder decoder_;
};

}  // namespace

DemoServer::DemoServer(asio::io_context& io, std::string name)
    : io_(io), name_(std::move(name)), acceptor_(io) {}

DemoServer::~DemoServer() {
  *alive_ = false;
  close();
}

std::error_code DemoServer::open(const tcp::endpoint& ep) {
  std::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(1024, ec);
  if (!ec) accept_next();
  return ec;
}

tcp::endpoint DemoServer::local_endpoint() const {
  std::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void DemoServer::close() {
  std::error_code ec;
  acceptor_.close(ec);
}

void DemoServer::accept_next() {
  acceptor_.async_accept([this, alive = alive_](const std::error_code& ec, tcp::socket s) {
    if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      std::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      std::make_shared<DemoConn>(std::move(s), name_)->start();
    }
    accept_next();
  });
}

}  // namespace fulcrum::l7
