// l4/udp_listener.h — one worker's copy of one `mode: udp` listener and its flow table.
//
// A flow is a client address (IP and port). Its first datagram picks a server with the
// backend's balancer (the client IP as hash for source/consistent hashing) and opens a UDP
// socket connected to that server; later datagrams of the flow go out on that socket, so the
// kernel demultiplexes replies per flow and the flow survives without per-datagram lookups of
// the reply's origin. Replies leave from the listener socket, to the client, batched with
// sendmmsg; on a wildcard listener from the address the client sent to (IP_PKTINFO). A flow
// counts in Server::active while it lives (least_connections, max_connections see flows), and
// ends after flow_idle_timeout without a datagram either way, or when the server answers with
// ICMP port unreachable (ECONNREFUSED: a passive-health failure; the next datagram of that
// client picks again).
//
// No allocation per datagram: flows live in slots that are reused (a deque: stable addresses),
// the table is reserved for max_flows up front, buffers are the worker's.
//
// Lifetime: owned by the server (lbd/) through unique_ptr, destroyed only after its worker's
// io_context has stopped running. Flow slots are never freed while the listener lives; a flow's
// pending wait handler carries the slot's generation and does nothing once it changed, so a
// flow may be closed while a completion for it is already queued.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <asio/ip/udp.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "l4/udp_worker.h"

namespace fulcrum::l4 {

class UdpListener {
 public:
  UdpListener(UdpWorker& w, std::size_t listener_index);
  ~UdpListener();
  UdpListener(const UdpListener&) = delete;
  UdpListener& operator=(const UdpListener&) = delete;

  // Binds; may run on another thread than the worker's (a reload opens sockets on the control
  // thread before it commits).
  std::error_code open(const asio::ip::udp::endpoint& ep, std::size_t max_flows);
  // Joins the worker's listeners and starts receiving (worker thread, or before it runs).
  void start();
  // Closes the socket and every flow, and leaves the worker's listeners.
  void close();
  // The listener's position in the worker's new snapshot (a reload may move it).
  void set_index(std::size_t i) { index_ = i; }
  asio::ip::udp::endpoint local_endpoint() const;
  int native_handle() { return socket_.native_handle(); }

  // Ends the flows idle since before `now - flow_idle_timeout` (the sweep calls it).
  void expire(UdpClock::time_point now);
  std::size_t flow_count() const { return table_.size(); }

 private:
  // Client address as a table key: IPv4 kept as v4-mapped IPv6, so both families share one form.
  struct Key {
    std::uint64_t hi = 0, lo = 0;
    std::uint32_t port_family = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  struct Flow {
    explicit Flow(asio::io_context& io) : up(io) {}
    asio::ip::udp::socket up;  // connected to `server`
    Key key;
    sockaddr_storage client{};
    socklen_t client_len = 0;
    // The address the client sent to, when the listener is bound to a wildcard address:
    // replies leave from it, or a client that sent to a secondary address would see them
    // come from another one and drop them. AF_UNSPEC: not needed (or not known).
    int local_family = AF_UNSPEC;
    in_addr local4{};
    in6_addr local6{};
    const balance::Server* server = nullptr;
    std::shared_ptr<const l7::Snapshot> snapshot;  // keeps `server` alive
    UdpClock::time_point last;
    Flow* older = nullptr;  // idle list, oldest first: expiry pops from the front
    Flow* newer = nullptr;
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;  // bumped when the flow ends
    bool live = false;
  };

  void wait_clients();
  void on_clients();
  // The flow of datagram `i` of the worker's input batch, made if new; nullptr: dropped.
  Flow* flow_of(unsigned i);
  void send_up(Flow* const* flows, unsigned n);
  Flow* create_flow(const Key& key, const sockaddr_storage& addr, socklen_t len);
  void close_flow(Flow& f);
  void wait_server(Flow& f);
  void on_server(std::uint32_t slot, std::uint32_t generation, const std::error_code& ec);
  void touch(Flow& f);
  void unlink(Flow& f);
  static Key key_of(const sockaddr_storage& a);
  // From the received datagram's control messages into the flow / into a reply's.
  static void read_local(const msghdr& h, Flow& f);
  static void write_local(const Flow& f, msghdr& h, char* control);

  UdpWorker& w_;
  std::size_t index_;
  asio::ip::udp::socket socket_;
  bool closed_ = false;
  bool registered_ = false;  // in w_.listeners (start() ran)
  bool pktinfo_ = false;  // bound to a wildcard address: track local addresses per flow
  bool full_logged_ = false;
  std::size_t max_flows_ = 0;
  std::deque<Flow> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<Key, std::uint32_t, KeyHash> table_;
  Flow* oldest_ = nullptr;
  Flow* newest_ = nullptr;
};

}  // namespace fulcrum::l4
