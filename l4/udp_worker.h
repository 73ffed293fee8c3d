// l4/udp_worker.h — what one worker owns for `mode: udp` listeners: its snapshot, its copies of
// the listeners (each with its flow table), the batch buffers they share, the expiry sweep and
// the counters.
//
// Everything here is touched only on the worker's own thread (the control thread reaches it
// through Worker::post), so nothing is locked. The counters are single-writer relaxed atomics,
// so a scrape from another thread (issue 6) reads them without a race.
#pragma once

#include <sys/socket.h>

#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/worker.h"
#include "l7/snapshot.h"
#include "metrics/stats.h"

namespace fulcrum::l4 {

class UdpListener;
using UdpClock = std::chrono::steady_clock;

// One worker's counter: written by its worker only, read by anyone (the metrics scrape).
using UdpCounter = metrics::Count;

struct UdpCounters {
  UdpCounter datagrams_in;   // from clients, accepted into a flow
  UdpCounter datagrams_up;   // sent on to a server
  UdpCounter replies_in;     // from servers
  UdpCounter datagrams_out;  // replies sent back to clients
  UdpCounter flows_created;
  UdpCounter flows_closed;      // every end (expiry, refusal, shutdown): open = created - closed
  UdpCounter flows_expired;     // idle for flow_idle_timeout
  UdpCounter flows_refused;     // closed after ECONNREFUSED (ICMP port unreachable) from the server
  UdpCounter table_full_drops;  // datagrams of new flows dropped at max_flows
  UdpCounter no_server_drops;   // datagrams of new flows dropped: no usable server
  UdpCounter send_drops;        // datagrams the kernel would not take (buffer full, errors)
};

struct UdpWorker {
  // Datagrams moved per recvmmsg/sendmmsg call.
  static constexpr unsigned kBatch = 32;
  // Largest UDP payload over IPv4/IPv6 without jumbograms, rounded up.
  static constexpr std::size_t kMaxDatagram = 64 * 1024;

  explicit UdpWorker(Worker& w);
  ~UdpWorker();
  UdpWorker(const UdpWorker&) = delete;
  UdpWorker& operator=(const UdpWorker&) = delete;

  Worker& worker;
  // Replaced by the control thread through Worker::post; a new flow takes the current one and
  // keeps it while it lives (its server pointer points into it).
  std::shared_ptr<const l7::Snapshot> snapshot;
  // The worker's listener copies (owned by the server); registered by UdpListener::open.
  std::vector<UdpListener*> listeners;
  UdpCounters counters;
  asio::steady_timer sweep_timer;
  bool sweeping = false;  // the sweep is armed; it stops when the last listener closes
  UdpClock::time_point now;  // refreshed per batch and per sweep tick

  // Receive batch (client datagrams), used and consumed within one handler.
  struct Batch {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_storage addrs[kBatch];
    // Control messages: the local address a datagram came to, and the one a reply leaves from
    // (IP_PKTINFO / IPV6_PKTINFO), for listeners bound to a wildcard address.
    static constexpr std::size_t kControl = 64;
    alignas(cmsghdr) char control[kBatch][kControl];
    std::unique_ptr<char[]> data;  // kBatch * kMaxDatagram, allocated on first use
    char* slot(unsigned i) { return data.get() + i * kMaxDatagram; }
  };
  Batch in;
  // Replies waiting for sendmmsg, all from the listener socket `out_from[i]` to the client
  // address in out.addrs[i]. Flushed when full and once per turn of the event loop (a posted
  // handler), so replies from many flows ready at once leave in one call.
  Batch out;
  UdpListener* out_from[kBatch] = {};
  unsigned out_count = 0;
  bool flush_posted = false;

  char* in_slot(unsigned i);
  // A free reply slot (flushing first when all are taken).
  unsigned take_out_slot();
  void queue_flush();
  void flush();
  // Forgets queued replies of a listener that is closing (its fd may be reused).
  void drop_queued(const UdpListener* l);
};

// The expiry sweep: one timer per worker (flows expire up to one tick, 100 ms, late). Starts
// when not running and the worker has listeners.
void start_udp_sweep(UdpWorker& w);
// Closes every listener copy and flow of the worker (shutdown: UDP has nothing to drain).
void close_udp(UdpWorker& w);

}  // namespace fulcrum::l4
