// l4/tcp_session.h — one client connection of a `mode: tcp` listener, from accept to close.
//
// Phases: [PROXY header in] -> [ClientHello read for SNI] -> [queued while every server is
// full] -> connect (with retries on other servers) -> [PROXY header out] -> relay. The relay moves bytes with splice(2): socket ->
// pipe -> socket, so no payload byte is copied through user space. Each direction is a loop of
// speculative splices; only an EAGAIN turns into an async_wait for readiness. A direction takes
// a pipe from the worker's pool when its source has bytes and gives it back once the pipe is
// empty again, so an idle session holds no pipe and no buffer.
//
// Half-close: EOF from one side, once everything read before it is delivered, becomes
// shutdown(SHUT_WR) on the other; the opposite direction keeps flowing, and the session ends
// when both directions have ended. A reset or error on either side ends the session with
// SO_LINGER {1, 0} on both, so the other peer sees an RST as well, not a clean end of stream.
//
// Lifetime: shared_ptr, held only by the session's own pending handlers; every handler checks
// `phase_ == kClosed` first; a queued session, which has no handler pending, is held by the
// worker's queue (q_self_). The worker's intrusive list holds raw pointers that the destructor
// unlinks; the worker walks it for timeouts and drain. The session keeps the snapshot it was
// accepted with (its Backend and Server pointers live in it).
#pragma once

#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "l4/tcp_pipe_pool.h"
#include "l4/tcp_worker.h"
#include "l7/snapshot.h"
#include "metrics/stats.h"

namespace fulcrum::l4 {

class TcpSession : public std::enable_shared_from_this<TcpSession> {
 public:
  TcpSession(TcpWorker& w, std::shared_ptr<const l7::Snapshot> snap, const l7::Listener* listener,
             asio::ip::tcp::socket client, const asio::ip::tcp::endpoint& peer,
             TcpListenerCount* count);
  ~TcpSession();
  TcpSession(const TcpSession&) = delete;
  TcpSession& operator=(const TcpSession&) = delete;

  void start();
  // Graceful shutdown: a session still reading its PROXY header or ClientHello closes now; one
  // that relays keeps going until both sides have finished.
  void drain();
  // Closes at once, with an RST to both peers (shutdown timeout).
  void abort() { close(true); }
  // Called by the worker's sweep: true when the session's current deadline has passed.
  bool expired(Clock::time_point now) const {
    return phase_ != Phase::kClosed && (deadline_ <= now || cut_at_ <= now);
  }
  void on_timer();
  // After a reload: closed at `cut` unless its listener and backend are still configured.
  void retire(const l7::Snapshot& now, Clock::time_point cut);

  TcpSession* list_prev = nullptr;
  TcpSession* list_next = nullptr;
  // Links of the worker's wait queue (core/wait_queue.h).
  TcpSession* q_prev = nullptr;
  TcpSession* q_next = nullptr;

 private:
  enum class Phase : std::uint8_t {
    kProxyHeader,
    kHello,
    kQueued,
    kConnect,
    kProxySend,
    kRelay,
    kClosed
  };

  // One direction of the relay: bytes read from `src` wait in `pipe` (or, on the copy path, in
  // `buf`) until they are written to `dst`.
  struct Direction {
    asio::ip::tcp::socket* src = nullptr;
    asio::ip::tcp::socket* dst = nullptr;
    Pipe pipe;
    std::unique_ptr<char[]> buf;  // copy path only
    std::size_t off = 0;          // copy path: first unsent byte of buf
    std::size_t pending = 0;      // bytes read and not yet written
    bool eof = false;             // src has sent its FIN
    bool done = false;            // FIN passed on (or the session is closing)
    bool read_wait = false;
    bool write_wait = false;
  };

  // Before the upstream is chosen.
  enum class Fill : std::uint8_t { kData, kWait, kEnd };
  Fill fill_head();
  std::span<const std::uint8_t> head() const;
  void read_proxy_header();
  void read_hello();
  void routed(std::string_view server_name);
  void wait_client_readable(void (TcpSession::*next)());
  const l7::Backend* route_sni(std::string_view name) const;

  // Choosing and connecting to a server.
  void connect_next();
  // Picks a server for this attempt and takes one of its slots; null when none has room.
  const balance::Server* acquire_server();
  void connect_to(const balance::Server* s);
  bool backend_full() const;
  void enqueue();
  void leave_queue();
  friend class WaitQueue<TcpSession>;
  // Queued: takes a slot and connects if one is free now; false when none is.
  bool try_dequeue();
  const void* queue_key() const { return backend_; }
  void on_connected(const std::error_code& ec);
  void connect_failed(const char* why);
  void reject();  // closed at once before relaying (counted as rejected)
  void send_proxy_header();
  void release_server();

  // The relay.
  void start_relay();
  void pump(int i);
  void wait_read(int i);
  void wait_write(int i);
  void finish(int i);
  void drop_buffer(Direction& d);

  void close(bool reset);

  TcpWorker& w_;
  std::shared_ptr<const l7::Snapshot> snap_;
  const l7::Listener* lis_;
  TcpListenerCount* count_;
  asio::ip::tcp::socket client_;
  asio::ip::tcp::socket upstream_;
  // The client as the servers should see it: the peer, or the source of its PROXY header.
  asio::ip::tcp::endpoint client_src_;
  asio::ip::tcp::endpoint client_dst_;  // the address the client connected to
  const l7::Backend* backend_ = nullptr;
  const balance::Server* server_ = nullptr;  // counted in server_->active while set
  // This worker's counters (metrics/stats.h): the listener's for the session, the server's
  // once one is chosen.
  metrics::ListenerSlot* ls_;
  metrics::ServerSlot* ss_ = nullptr;
  const balance::Server* failed_[2] = {nullptr, nullptr};  // the last two that did not connect
  std::uint64_t hash_ = 0;
  // The client's first bytes (PROXY header, ClientHello), only while reading them: a PROXY v2
  // header with TLVs (up to 2 KiB accepted) plus a ClientHello of up to 16 KiB in records.
  static constexpr std::size_t kHeadSize = 20 * 1024;
  std::unique_ptr<char[]> head_;
  std::size_t head_len_ = 0;
  std::unique_ptr<char[]> proxy_out_;  // the PROXY header to send, only while sending it
  std::uint16_t proxy_out_len_ = 0;
  std::uint16_t proxy_out_off_ = 0;
  std::uint8_t attempts_ = 0;
  Phase phase_ = Phase::kProxyHeader;
  bool copy_only_ = false;        // splice refused these sockets (EINVAL): read/write for good
  bool have_client_dst_ = false;  // client_dst_ came from a PROXY header
  Clock::time_point deadline_;
  // When a reload removed its listener or backend: closed at this time (max(): never).
  Clock::time_point cut_at_ = Clock::time_point::max();
  Direction dirs_[2];  // 0: client -> upstream, 1: upstream -> client
  std::shared_ptr<TcpSession> q_self_;  // while queued
};

}  // namespace fulcrum::l4
