// tests/bench/udp_bench.cc — DNS-style UDP load for a flow balancer, and the servers behind it.
//
// Python cannot generate enough datagrams to load a proxy, so udp_bench.py builds this tool and
// runs it twice: `echo` plays the upstream servers, `load` the clients. Both batch with
// recvmmsg/sendmmsg and use one thread, so they can share one pinned CPU and still leave the
// proxy as the bottleneck (the script reports their CPU use to show it).
//
//   udp_bench echo N                 N echo servers on 127.0.0.1:0; prints their ports, serves
//                                    until killed
//   udp_bench load PORT FLOWS WINDOW SECONDS [WARMUP]
//                                    FLOWS client sockets (one flow each) keep WINDOW queries
//                                    in flight to 127.0.0.1:PORT; prints replies/s and CPU use
//
// A query is 40 bytes: flow id, sequence number, padding (about a DNS question's size). A flow
// that receives nothing for 200 ms resends its window (counted as lost), so drops do not stall
// the run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBatch = 64;
constexpr std::size_t kQuery = 40;

int udp_socket(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int big = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("udp socket");
    std::exit(1);
  }
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Batch {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_in addrs[kBatch];
  char bufs[kBatch][2048];
  void reset() {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i], sizeof bufs[i]};
      std::memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
};

int echo(int n) {
  std::vector<int> fds;
  const int ep = ::epoll_create1(0);
  for (int i = 0; i < n; ++i) {
    fds.push_back(udp_socket(0));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fds.back();
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds.back(), &ev);
    std::printf("%u\n", port_of(fds.back()));
  }
  std::fflush(stdout);
  static Batch b;
  epoll_event events[16];
  for (;;) {
    const int ne = ::epoll_wait(ep, events, 16, -1);
    for (int e = 0; e < ne; ++e) {
      const int fd = events[e].data.fd;
      for (;;) {
        b.reset();
        const int got = ::recvmmsg(fd, b.msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        for (int i = 0; i < got; ++i) b.iov[i].iov_len = b.msgs[i].msg_len;
        int sent = 0;
        while (sent < got) {
          const int s = ::sendmmsg(fd, b.msgs + sent, got - sent, MSG_DONTWAIT);
          if (s <= 0) break;  // a full buffer drops, as UDP does
          sent += s;
        }
        if (got < kBatch) break;
      }
    }
  }
}

struct Flow {
  int fd = -1;
  std::uint32_t id = 0;
  std::uint32_t seq = 0;
  int in_flight = 0;
  Clock::time_point last;
};

int load(std::uint16_t port, int flows, int window, double seconds, double warmup) {
  sockaddr_in dest{};
  dest.sin_family = AF_INET;
  dest.sin_port = htons(port);
  dest.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int ep = ::epoll_create1(0);
  std::vector<Flow> fl(static_cast<std::size_t>(flows));
  for (int i = 0; i < flows; ++i) {
    Flow& f = fl[static_cast<std::size_t>(i)];
    f.fd = udp_socket(0);
    f.id = static_cast<std::uint32_t>(i);
    if (::connect(f.fd, reinterpret_cast<sockaddr*>(&dest), sizeof dest) != 0) {
      std::perror("connect");
      return 1;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(i);
    ::epoll_ctl(ep, EPOLL_CTL_ADD, f.fd, &ev);
  }
  static Batch out;
  static Batch in;
  auto send_n = [&](Flow& f, int n) {
    out.reset();
    for (int i = 0; i < n; ++i) {
      std::memset(out.bufs[i], 'q', kQuery);
      std::memcpy(out.bufs[i], &f.id, 4);
      ++f.seq;
      std::memcpy(out.bufs[i] + 4, &f.seq, 4);
      out.iov[i].iov_len = kQuery;
      out.msgs[i].msg_hdr.msg_name = nullptr;  // connected
      out.msgs[i].msg_hdr.msg_namelen = 0;
    }
    int sent = 0;
    while (sent < n) {
      const int s = ::sendmmsg(f.fd, out.msgs + sent, n - sent, MSG_DONTWAIT);
      if (s <= 0) break;
      sent += s;
    }
    f.in_flight += sent;
  };
  const auto start = Clock::now();
  for (Flow& f : fl) {
    f.last = start;
    send_n(f, window);
  }
  std::uint64_t replies = 0, lost = 0, measured = 0;
  const auto measure_from = start + std::chrono::duration<double>(warmup);
  const auto end = measure_from + std::chrono::duration<double>(seconds);
  bool measuring = false;
  double cpu0 = 0;
  auto next_check = start + std::chrono::milliseconds(100);
  epoll_event events[256];
  for (;;) {
    const int ne = ::epoll_wait(ep, events, 256, 10);
    const auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      measured = 0;
      cpu0 = cpu_seconds();
    }
    if (now >= end) break;
    for (int e = 0; e < ne; ++e) {
      Flow& f = fl[events[e].data.u32];
      in.reset();
      const int got = ::recvmmsg(f.fd, in.msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (got <= 0) continue;
      replies += static_cast<std::uint64_t>(got);
      if (measuring) measured += static_cast<std::uint64_t>(got);
      f.in_flight -= got;
      if (f.in_flight < 0) f.in_flight = 0;  // late replies after a resend
      f.last = now;
      send_n(f, window - f.in_flight);
    }
    if (now >= next_check) {
      next_check = now + std::chrono::milliseconds(100);
      for (Flow& f : fl) {
        if (now - f.last > std::chrono::milliseconds(200)) {
          lost += static_cast<std::uint64_t>(f.in_flight);
          f.in_flight = 0;
          f.last = now;
          send_n(f, window);
        }
      }
    }
  }
  const double cpu = cpu_seconds() - cpu0;
  std::printf("replies_per_s %.0f\nlost %llu\nclient_cpu %.3f\ntotal_replies %llu\n",
              static_cast<double>(measured) / seconds, static_cast<unsigned long long>(lost),
              cpu / seconds, static_cast<unsigned long long>(replies));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "echo") == 0) return echo(std::atoi(argv[2]));
  if (argc >= 6 && std::strcmp(argv[1], "load") == 0) {
    return load(static_cast<std::uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]),
                std::atoi(argv[4]), std::atof(argv[5]), argc >= 7 ? std::atof(argv[6]) : 1.0);
  }
  std::fprintf(stderr,
               "usage: udp_bench echo N | udp_bench load PORT FLOWS WINDOW SECONDS [WARMUP]\n");
  return 2;
}
