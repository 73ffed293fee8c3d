#include "l4/udp_listener.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <asio/error.hpp>
#include <asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "core/listen.h"
#include "core/log.h"

namespace fulcrum::l4 {
namespace {

// Client batches read per wakeup before yielding to the rest of the loop (flows' replies).
constexpr int kRoundsPerWakeup = 8;

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

asio::ip::address address_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(a);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &s6.sin6_addr, 16);
    return asio::ip::address_v6(b);
  }
  const auto& s4 = reinterpret_cast<const sockaddr_in&>(a);
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), &s4.sin_addr, 4);
  return asio::ip::address_v4(b);
}

}  // namespace

// --- UdpWorker --------------------------------------------------------------------------------

UdpWorker::UdpWorker(Worker& w) : worker(w), sweep_timer(w.io()), now(UdpClock::now()) {}
UdpWorker::~UdpWorker() = default;

char* UdpWorker::in_slot(unsigned i) {
  if (!in.data) {
    in.data = std::make_unique<char[]>(kBatch * kMaxDatagram);
    out.data = std::make_unique<char[]>(kBatch * kMaxDatagram);
  }
  return in.slot(i);
}

unsigned UdpWorker::take_out_slot() {
  if (out_count == kBatch) flush();
  return out_count++;
}

void UdpWorker::queue_flush() {
  if (flush_posted) return;
  flush_posted = true;
  asio::post(worker.io(), [this] {
    flush_posted = false;
    flush();
  });
}

void UdpWorker::flush() {
  unsigned at = 0;
  while (at < out_count) {
    // A run of replies from the same listener socket goes in one sendmmsg.
    unsigned end = at + 1;
    while (end < out_count && out_from[end] == out_from[at]) ++end;
    const int fd = out_from[at]->native_handle();
    unsigned sent = at;
    while (sent < end) {
      const int n = ::sendmmsg(fd, out.msgs + sent, end - sent, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        // Full socket buffer or a client gone: UDP drops, and so do we, the one datagram.
        counters.send_drops.add();
        ++sent;
        continue;
      }
      counters.datagrams_out.add(static_cast<std::uint64_t>(n));
      sent += static_cast<unsigned>(n);
    }
    at = end;
  }
  out_count = 0;
}

void UdpWorker::drop_queued(const UdpListener* l) {
  unsigned keep = 0;
  for (unsigned i = 0; i < out_count; ++i) {
    if (out_from[i] == l) continue;
    if (keep != i) {
      // Move the message (and its buffer contents) down to slot `keep`.
      std::memcpy(out.slot(keep), out.slot(i), out.msgs[i].msg_len);
      out.addrs[keep] = out.addrs[i];
      out.iov[keep].iov_len = out.msgs[i].msg_len;
      out.msgs[keep].msg_hdr.msg_namelen = out.msgs[i].msg_hdr.msg_namelen;
      std::memcpy(out.control[keep], out.control[i], Batch::kControl);
      out.msgs[keep].msg_hdr.msg_control =
          out.msgs[i].msg_hdr.msg_control != nullptr ? out.control[keep] : nullptr;
      out.msgs[keep].msg_hdr.msg_controllen = out.msgs[i].msg_hdr.msg_controllen;
      out.msgs[keep].msg_len = out.msgs[i].msg_len;
      out_from[keep] = out_from[i];
    }
    ++keep;
  }
  out_count = keep;
}

namespace {
void arm_udp_sweep(UdpWorker& w) {
  w.sweep_timer.expires_after(std::chrono::milliseconds(100));
  w.sweep_timer.async_wait([&w](const std::error_code& ec) {
    if (ec || w.listeners.empty()) {
      w.sweeping = false;
      return;
    }
    w.now = UdpClock::now();
    for (UdpListener* l : w.listeners) l->expire(w.now);
    arm_udp_sweep(w);
  });
}
}  // namespace

void start_udp_sweep(UdpWorker& w) {
  if (w.sweeping || w.listeners.empty()) return;
  w.sweeping = true;
  arm_udp_sweep(w);
}

void close_udp(UdpWorker& w) {
  w.sweep_timer.cancel();
  // close() takes each out of the list.
  const std::vector<UdpListener*> open = w.listeners;
  for (UdpListener* l : open) l->close();
  const UdpCounters& c = w.counters;
  if (!open.empty()) {
    LOG_INFO(
        "udp worker {}: datagrams in {} up {} replies {} out {}; flows created {} expired {} "
        "refused {}; drops: table full {} no server {} send {}",
        w.worker.index(), c.datagrams_in.get(), c.datagrams_up.get(), c.replies_in.get(),
        c.datagrams_out.get(), c.flows_created.get(), c.flows_expired.get(), c.flows_refused.get(),
        c.table_full_drops.get(), c.no_server_drops.get(), c.send_drops.get());
  }
}

// --- UdpListener ------------------------------------------------------------------------------

std::size_t UdpListener::KeyHash::operator()(const Key& k) const {
  // splitmix64-style finaliser over the three words: cheap and spreads ports well.
  std::uint64_t h = k.hi * 0x9e3779b97f4a7c15ull ^ k.lo;
  h ^= (h >> 31) ^ (std::uint64_t{k.port_family} << 17);
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return static_cast<std::size_t>(h ^ (h >> 31));
}

UdpListener::Key UdpListener::key_of(const sockaddr_storage& a) {
  Key k;
  std::uint8_t b[16] = {};
  std::uint16_t port = 0;
  if (a.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(a);
    std::memcpy(b, &s6.sin6_addr, 16);
    port = s6.sin6_port;
  } else {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(a);
    b[10] = b[11] = 0xff;
    std::memcpy(b + 12, &s4.sin_addr, 4);
    port = s4.sin_port;
  }
  std::memcpy(&k.hi, b, 8);
  std::memcpy(&k.lo, b + 8, 8);
  k.port_family = std::uint32_t{port} | std::uint32_t{a.ss_family} << 16;
  return k;
}

UdpListener::UdpListener(UdpWorker& w, std::size_t listener_index)
    : w_(w), index_(listener_index), socket_(w.worker.io()) {}

UdpListener::~UdpListener() { close(); }

std::error_code UdpListener::open(const asio::ip::udp::endpoint& ep, std::size_t max_flows) {
  max_flows_ = max_flows;
  table_.reserve(max_flows_);
  free_slots_.reserve(max_flows_);
  const std::error_code ec = open_udp_listener(socket_, ep);
  if (ec) return ec;
  if (ep.address().is_unspecified()) {
    pktinfo_ = true;
    int one = 1;
    const int fd = socket_.native_handle();
    // A dual-stack IPv6 socket reports IPv4 datagrams through IP_PKTINFO, so ask for both.
    ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    if (ep.address().is_v6()) ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  }
  return ec;
}

asio::ip::udp::endpoint UdpListener::local_endpoint() const {
  std::error_code ec;
  return socket_.local_endpoint(ec);
}

void UdpListener::start() {
  if (closed_) return;
  w_.listeners.push_back(this);
  registered_ = true;
  wait_clients();
}

void UdpListener::close() {
  if (closed_) return;
  closed_ = true;
  // Only once started: the list is the worker's, and a socket that never started may be
  // closed on the control thread (a reload that failed to open another).
  if (registered_) {
    std::erase(w_.listeners, this);
    w_.drop_queued(this);
  }
  while (oldest_ != nullptr) close_flow(*oldest_);
  std::error_code ec;
  socket_.close(ec);
}

void UdpListener::wait_clients() {
  socket_.async_wait(asio::ip::udp::socket::wait_read, [this](const std::error_code& ec) {
    if (closed_ || ec) return;
    on_clients();
    if (!closed_) wait_clients();
  });
}

void UdpListener::on_clients() {
  UdpWorker::Batch& in = w_.in;
  for (unsigned i = 0; i < UdpWorker::kBatch; ++i) {
    in.iov[i] = {w_.in_slot(i), UdpWorker::kMaxDatagram};
    std::memset(&in.msgs[i].msg_hdr, 0, sizeof in.msgs[i].msg_hdr);
    in.msgs[i].msg_hdr.msg_name = &in.addrs[i];
    in.msgs[i].msg_hdr.msg_namelen = sizeof in.addrs[i];
    in.msgs[i].msg_hdr.msg_iov = &in.iov[i];
    in.msgs[i].msg_hdr.msg_iovlen = 1;
    if (pktinfo_) in.msgs[i].msg_hdr.msg_control = in.control[i];
  }
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    if (pktinfo_) {
      // The kernel shrinks msg_controllen to what it wrote: full size again for every call.
      for (unsigned i = 0; i < UdpWorker::kBatch; ++i) {
        in.msgs[i].msg_hdr.msg_controllen = UdpWorker::Batch::kControl;
      }
    }
    const int n =
        ::recvmmsg(socket_.native_handle(), in.msgs, UdpWorker::kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!would_block(errno)) LOG_DEBUG("udp listener: recvmmsg: {}", std::strerror(errno));
      break;
    }
    w_.now = UdpClock::now();
    Flow* flows[UdpWorker::kBatch];
    for (int i = 0; i < n; ++i) {
      flows[i] = flow_of(static_cast<unsigned>(i));
      // recvmmsg wrote the sender's length; the next call needs the full size again.
      in.msgs[i].msg_hdr.msg_namelen = sizeof in.addrs[i];
    }
    send_up(flows, static_cast<unsigned>(n));
    if (static_cast<unsigned>(n) < UdpWorker::kBatch) break;
  }
}

UdpListener::Flow* UdpListener::flow_of(unsigned i) {
  UdpWorker::Batch& in = w_.in;
  const sockaddr_storage& from = in.addrs[i];
  if (from.ss_family != AF_INET && from.ss_family != AF_INET6) return nullptr;
  const Key key = key_of(from);
  Flow* f = nullptr;
  if (auto it = table_.find(key); it != table_.end()) {
    f = &slots_[it->second];
  } else {
    f = create_flow(key, from, in.msgs[i].msg_hdr.msg_namelen);
    if (f == nullptr) return nullptr;
    if (pktinfo_) read_local(in.msgs[i].msg_hdr, *f);
  }
  w_.counters.datagrams_in.add();
  touch(*f);
  return f;
}

void UdpListener::send_up(Flow* const* flows, unsigned n) {
  // The datagrams of one flow in this batch leave in one sendmmsg on its connected socket, in
  // the order they came; flows are independent, so the batch is grouped by flow. The messages
  // carry no address: on a connected UDP socket an address would override the server's.
  UdpWorker::Batch& in = w_.in;
  mmsghdr msgs[UdpWorker::kBatch];
  iovec iov[UdpWorker::kBatch];
  bool taken[UdpWorker::kBatch] = {};
  for (unsigned i = 0; i < n; ++i) {
    if (flows[i] == nullptr || taken[i]) continue;
    Flow& f = *flows[i];
    unsigned count = 0;
    for (unsigned j = i; j < n; ++j) {
      if (flows[j] != &f) continue;
      taken[j] = true;
      iov[count] = {in.slot(j), in.msgs[j].msg_len};
      std::memset(&msgs[count], 0, sizeof msgs[count]);
      msgs[count].msg_hdr.msg_iov = &iov[count];
      msgs[count].msg_hdr.msg_iovlen = 1;
      ++count;
    }
    unsigned sent = 0;
    while (sent < count) {
      const int r = ::sendmmsg(f.up.native_handle(), msgs + sent, count - sent, MSG_DONTWAIT);
      if (r > 0) {
        w_.counters.datagrams_up.add(static_cast<std::uint64_t>(r));
        sent += static_cast<unsigned>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == ECONNREFUSED) {
        // An ICMP port unreachable for an earlier datagram of this flow: the server is not
        // listening. Passive health hears of it; the client's next datagram picks again.
        balance::record_failure(*f.server);
        w_.counters.flows_refused.add();
        close_flow(f);
      }
      // A full socket buffer (or the flow just closed): UDP drops, and so do we, the rest.
      w_.counters.send_drops.add(count - sent);
      break;
    }
  }
}

UdpListener::Flow* UdpListener::create_flow(const Key& key, const sockaddr_storage& addr,
                                            socklen_t len) {
  // The limit as the current snapshot has it, so a reload can change it (the table rehashes
  // once if it grows past what open() reserved).
  max_flows_ = w_.snapshot->config->listeners[index_].max_flows;
  if (table_.size() >= max_flows_) {
    w_.counters.table_full_drops.add();
    if (!full_logged_) {
      full_logged_ = true;
      LOG_WARN(
          "udp listener {} (worker {}): flow table full at max_flows {}; datagrams of new "
          "flows are dropped until flows expire",
          w_.snapshot->listeners[index_].name, w_.worker.index(), max_flows_);
    }
    return nullptr;
  }
  std::shared_ptr<const l7::Snapshot> snap = w_.snapshot;
  const l7::Backend* backend = snap->listeners[index_].backend;
  balance::PickContext ctx;
  if (backend->hashes) ctx.hash = balance::hash_of(address_of(addr));
  const balance::Server* s = backend->balancer->pick(ctx);
  if (s != nullptr && !balance::try_acquire(*s)) {
    // Another worker took its last slot (max_connections) since the pick: once more without it.
    ctx.avoid_also = s;
    s = backend->balancer->pick(ctx);
    if (s != nullptr && !balance::try_acquire(*s)) s = nullptr;
  }
  if (s == nullptr) {
    w_.counters.no_server_drops.add();
    return nullptr;
  }
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back(w_.worker.io());
  }
  Flow& f = slots_[slot];
  f.slot = slot;
  const asio::ip::udp::endpoint server_ep(s->endpoint.address(), s->endpoint.port());
  std::error_code ec;
  f.up.open(server_ep.protocol(), ec);
  if (!ec) f.up.non_blocking(true, ec);
  if (!ec) f.up.connect(server_ep, ec);
  if (ec) {
    LOG_DEBUG("udp listener: socket towards {}: {}", s->name, ec.message());
    std::error_code ignored;
    f.up.close(ignored);
    balance::release(*s);
    free_slots_.push_back(slot);
    w_.counters.send_drops.add();
    return nullptr;
  }
  f.key = key;
  f.local_family = AF_UNSPEC;
  std::memcpy(&f.client, &addr, len);
  f.client_len = len;
  f.server = s;
  f.snapshot = std::move(snap);
  f.live = true;
  table_.emplace(key, slot);
  w_.counters.flows_created.add();
  wait_server(f);
  return &f;
}

void UdpListener::close_flow(Flow& f) {
  if (!f.live) return;
  f.live = false;
  ++f.generation;
  w_.counters.flows_closed.add();
  unlink(f);
  table_.erase(f.key);
  std::error_code ec;
  f.up.close(ec);
  balance::release(*f.server);
  f.server = nullptr;
  f.snapshot.reset();
  free_slots_.push_back(f.slot);
}

void UdpListener::wait_server(Flow& f) {
  f.up.async_wait(asio::ip::udp::socket::wait_read,
                  [this, slot = f.slot, gen = f.generation](const std::error_code& ec) {
                    if (closed_ || ec == asio::error::operation_aborted) return;
                    on_server(slot, gen, ec);
                  });
}

void UdpListener::on_server(std::uint32_t slot, std::uint32_t generation,
                            const std::error_code& ec) {
  Flow& f = slots_[slot];
  if (!f.live || f.generation != generation) return;  // the flow ended since the wait began
  if (ec) {
    // The reactor may hand over the socket error itself (an ICMP port unreachable).
    if (ec == asio::error::connection_refused) {
      balance::record_failure(*f.server);
      w_.counters.flows_refused.add();
    }
    close_flow(f);
    return;
  }
  UdpWorker::Batch& out = w_.out;
  w_.in_slot(0);  // makes sure the buffers exist
  for (int round = 0; round < kRoundsPerWakeup; ++round) {
    // Read straight into free reply slots: the datagram is copied once, kernel to kernel.
    if (w_.out_count == UdpWorker::kBatch) w_.flush();
    const unsigned first = w_.out_count;
    const unsigned room = UdpWorker::kBatch - first;
    for (unsigned i = first; i < UdpWorker::kBatch; ++i) {
      out.iov[i] = {out.slot(i), UdpWorker::kMaxDatagram};
      std::memset(&out.msgs[i].msg_hdr, 0, sizeof out.msgs[i].msg_hdr);
      out.msgs[i].msg_hdr.msg_iov = &out.iov[i];
      out.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(f.up.native_handle(), out.msgs + first, room, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) {
        balance::record_failure(*f.server);
        w_.counters.flows_refused.add();
        close_flow(f);
        return;
      }
      break;  // EAGAIN: read all there was
    }
    w_.now = UdpClock::now();
    for (int i = 0; i < n; ++i) {
      const unsigned at = first + static_cast<unsigned>(i);
      // Now a reply: same bytes, addressed to the client, sent from the listener socket.
      out.iov[at].iov_len = out.msgs[at].msg_len;
      std::memcpy(&out.addrs[at], &f.client, f.client_len);
      out.msgs[at].msg_hdr.msg_name = &out.addrs[at];
      out.msgs[at].msg_hdr.msg_namelen = f.client_len;
      write_local(f, out.msgs[at].msg_hdr, out.control[at]);
      w_.out_from[at] = this;
    }
    w_.out_count += static_cast<unsigned>(n);
    w_.counters.replies_in.add(static_cast<std::uint64_t>(n));
    if (n > 0) {
      balance::record_success(*f.server);
      touch(f);
    }
    if (static_cast<unsigned>(n) < room) break;
  }
  if (w_.out_count > 0) w_.queue_flush();
  wait_server(f);
}

void UdpListener::read_local(const msghdr& h, Flow& f) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      f.local_family = AF_INET;
      f.local4 = info.ipi_addr;  // the datagram's destination address
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      f.local_family = AF_INET6;
      f.local6 = info.ipi6_addr;
    }
  }
}

void UdpListener::write_local(const Flow& f, msghdr& h, char* control) {
  if (f.local_family == AF_UNSPEC) {
    h.msg_control = nullptr;
    h.msg_controllen = 0;
    return;
  }
  std::memset(control, 0, UdpWorker::Batch::kControl);
  h.msg_control = control;
  h.msg_controllen =
      f.local_family == AF_INET ? CMSG_SPACE(sizeof(in_pktinfo)) : CMSG_SPACE(sizeof(in6_pktinfo));
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  if (f.local_family == AF_INET) {
    in_pktinfo info{};
    info.ipi_spec_dst = f.local4;  // source address of the reply; the route picks the interface
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
  } else {
    in6_pktinfo info{};
    info.ipi6_addr = f.local6;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
  }
}

void UdpListener::touch(Flow& f) {
  f.last = w_.now;
  if (newest_ == &f) return;
  unlink(f);
  f.older = newest_;
  f.newer = nullptr;
  if (newest_ != nullptr) newest_->newer = &f;
  newest_ = &f;
  if (oldest_ == nullptr) oldest_ = &f;
}

void UdpListener::unlink(Flow& f) {
  if (f.older != nullptr) f.older->newer = f.newer;
  if (f.newer != nullptr) f.newer->older = f.older;
  if (oldest_ == &f) oldest_ = f.newer;
  if (newest_ == &f) newest_ = f.older;
  f.older = f.newer = nullptr;
}

void UdpListener::expire(UdpClock::time_point now) {
  if (closed_) return;
  const auto timeout = w_.snapshot->config->listeners[index_].flow_idle_timeout;
  while (oldest_ != nullptr && now - oldest_->last >= timeout) {
    w_.counters.flows_expired.add();
    close_flow(*oldest_);
  }
}

}  // namespace fulcrum::l4
