"""mode: udp listeners: flow affinity, spread, idle expiry, the flow table cap, a dead server,
replies from the listener address, and the config rules of the udp keys.

The upstreams are "DNS-like": each answers a datagram "<id>:<question>" with "<id>:<its name>",
so a client can check both which server answered and that the answer is to its own question.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lbdtest  # noqa: E402


class DnsUpstream:
    """A UDP server on an ephemeral loopback port answering with its name and the query id.
    Records the source address (lbd's per-flow socket) of every query."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so the thread sees `closed` soon after close()
        self.port = self.sock.getsockname()[1]
        self.sources = []
        self.payloads = []  # (source address, datagram) in arrival order
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _serve(self):
        while not self.closed:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            qid = data.split(b":", 1)[0]
            with self.lock:
                self.sources.append(addr)
                self.payloads.append((addr, data))
            try:
                self.sock.sendto(qid + b":" + self.name.encode(), addr)
            except OSError:
                return

    def flow_ports(self):
        with self.lock:
            return {port for _host, port in self.sources}

    def close(self):
        """Closes the port: the kernel answers further datagrams with ICMP port unreachable."""
        self.closed = True
        self.thread.join(2)
        self.sock.close()


class Client:
    """One flow: a UDP socket with its own source port."""

    def __init__(self, port, timeout=1.0, dest_ip="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self.dest = (dest_ip, port)
        self.next_id = 0

    def ask(self):
        """Sends one query; returns the answering server's name, or None on timeout."""
        self.next_id += 1
        qid = b"%d-%d" % (self.sock.getsockname()[1], self.next_id)
        self.sock.sendto(qid + b":example.test", self.dest)
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                return None
            # Replies come from the address the client sent to, never from a server's.
            assert addr == self.dest, "reply from %r, expected %r" % (addr, self.dest)
            rid, name = data.split(b":", 1)
            if rid == qid:
                return name.decode()

    def close(self):
        self.sock.close()


CONFIG = """
workers: {workers}
listeners:
  - name: dns
    address: {listen}:0
    mode: udp
    backend: dns
    flow_idle_timeout: {idle}
    max_flows: {max_flows}
backends:
  - name: dns
    balance: {balance}
    outlier:
      consecutive_failures: 1
      base_ejection: 60s
    servers:
{servers}
"""


def config(ups, workers=2, idle="30s", max_flows=65536, balance="round_robin",
           listen="127.0.0.1"):
    servers = "\n".join("      - name: %s\n        address: %s" % (u.name, u.address) for u in ups)
    return CONFIG.format(workers=workers, idle=idle, max_flows=max_flows, balance=balance,
                         servers=servers, listen=listen)


class UdpTest(lbdtest.LbdTestCase):
    def setUp(self):
        self.ups = [DnsUpstream(n) for n in ("ns1", "ns2", "ns3")]
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for u in self.ups:
            if not u.closed:
                u.close()

    def client(self, port, timeout=1.0, dest_ip="127.0.0.1"):
        c = Client(port, timeout, dest_ip)
        self.clients.append(c)
        return c

    def start(self, **kw):
        return lbdtest.Lbd(["--config", "{config}"], config_text=config(self.ups, **kw))

    def test_flows_stick_to_one_server_and_spread_over_all(self):
        with self.start() as lbd:
            by_server = {}
            for _ in range(30):
                c = self.client(lbd.port)
                answers = {c.ask() for _ in range(5)}
                self.assertEqual(len(answers), 1, "one flow, several servers: %r" % answers)
                name = answers.pop()
                self.assertIsNotNone(name, "no answer")
                by_server[name] = by_server.get(name, 0) + 1
            self.assertEqual(set(by_server), {"ns1", "ns2", "ns3"}, by_server)
            # Round robin per worker: 30 flows over 3 servers, none far from 10.
            self.assertGreaterEqual(min(by_server.values()), 5, by_server)
            # Each flow is one connected socket towards its server: 30 source ports in all.
            self.assertEqual(sum(len(u.flow_ports()) for u in self.ups), 30)
            self.assertEqual(lbd.stop(), 0)
            log = lbd.log()
            created = sum(int(x) for x in _counter(log, "flows created"))
            self.assertEqual(created, 30, log)

    def test_long_lived_flow_many_datagrams(self):
        with self.start() as lbd:
            c = self.client(lbd.port)
            names = {c.ask() for _ in range(300)}
            self.assertEqual(len(names), 1)
            self.assertNotIn(None, names)
            self.assertEqual(sum(len(u.flow_ports()) for u in self.ups), 1)

    def test_interleaved_bursts_keep_each_flows_order(self):
        # Datagrams of several flows arrive interleaved and unanswered in between, so one
        # read batch holds several of each flow: each must reach its server complete and in
        # the order sent (lbd groups a batch by flow and sends each group in one sendmmsg).
        with self.start(workers=1) as lbd:
            clients = [self.client(lbd.port) for _ in range(4)]
            per_flow = 25
            for seq in range(per_flow):
                for k, c in enumerate(clients):
                    c.sock.sendto(b"%d-%d:burst" % (k, seq), c.dest)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if sum(len(u.payloads) for u in self.ups) >= per_flow * len(clients):
                    break
                time.sleep(0.02)
            seen = {}
            for u in self.ups:
                with u.lock:
                    for addr, data in u.payloads:
                        k, seq = data.split(b":", 1)[0].split(b"-")
                        seen.setdefault(int(k), []).append((addr, int(seq)))
            self.assertEqual(sorted(seen), [0, 1, 2, 3], seen)
            for k, got in seen.items():
                self.assertEqual(len({addr for addr, _ in got}), 1, "flow %d split: %r" % (k, got))
                self.assertEqual([s for _, s in got], list(range(per_flow)), "flow %d" % k)
            self.assertEqual(lbd.stop(), 0)
            log = lbd.log()
            self.assertEqual(sum(int(x) for x in _counter(log, "up")), per_flow * len(clients), log)

    def test_flow_expires_after_idle_timeout(self):
        with self.start(idle="1s", workers=1) as lbd:
            c = self.client(lbd.port)
            first = c.ask()
            time.sleep(0.4)
            self.assertEqual(c.ask(), first)  # activity keeps the flow
            ports_before = set().union(*(u.flow_ports() for u in self.ups))
            self.assertEqual(len(ports_before), 1)
            time.sleep(1.6)
            # A new flow: a new socket towards a server, which round robin picks afresh.
            second = c.ask()
            self.assertIsNotNone(second)
            ports_after = set().union(*(u.flow_ports() for u in self.ups))
            self.assertEqual(len(ports_after), 2, "the flow did not expire")
            self.assertNotEqual(second, first, "round robin picks the next server for the new flow")
            self.assertEqual(lbd.stop(), 0)
            self.assertEqual(_counter(lbd.log(), "expired"), ["1"])

    def test_full_flow_table_drops_new_flows_and_counts(self):
        with self.start(workers=1, max_flows=2) as lbd:
            a, b = self.client(lbd.port), self.client(lbd.port)
            self.assertIsNotNone(a.ask())
            self.assertIsNotNone(b.ask())
            refused = [self.client(lbd.port, timeout=0.3) for _ in range(4)]
            for c in refused:
                self.assertIsNone(c.ask())
            # The flows in the table carry on.
            self.assertIsNotNone(a.ask())
            self.assertIsNotNone(b.ask())
            lbd.wait_log("flow table full at max_flows 2")
            self.assertEqual(lbd.stop(), 0)
            log = lbd.log()
            self.assertEqual(log.count("flow table full"), 1, log)  # logged once, counted always
            self.assertEqual(_counter(log, "table full"), ["4"], log)

    def test_dead_server_is_ejected_and_new_flows_avoid_it(self):
        with self.start(workers=1) as lbd:
            dead = self.ups[1]
            dead.close()
            # Flows that land on the closed port get ICMP port unreachable back: a failure,
            # the flow ends, and (consecutive_failures: 1) the server is ejected.
            for _ in range(6):
                self.client(lbd.port, timeout=0.3).ask()
            lbd.wait_log("server dns/ns2 ejected")
            names = [self.client(lbd.port).ask() for _ in range(12)]
            self.assertNotIn(None, names)
            self.assertEqual(set(names), {"ns1", "ns3"})
            self.assertEqual(lbd.stop(), 0)
            self.assertNotEqual(_counter(lbd.log(), "refused"), ["0"])

    def test_wildcard_listener_replies_from_the_address_the_client_used(self):
        # 127.0.0.2 and 127.0.0.3 are local too; without IP_PKTINFO the kernel would pick
        # 127.0.0.1 as the source of the replies, and Client.ask() would reject them.
        with self.start(listen="0.0.0.0") as lbd:
            for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.1"):
                c = self.client(lbd.port, dest_ip=ip)
                self.assertIsNotNone(c.ask(), ip)
                self.assertIsNotNone(c.ask(), ip)

    def test_source_hash_keeps_a_client_ip_on_one_server(self):
        with self.start(balance="source_hash") as lbd:
            names = {self.client(lbd.port).ask() for _ in range(10)}
            self.assertEqual(len(names), 1, names)  # every flow is from 127.0.0.1

    def test_quick_mode(self):
        args = ["proxy", "--mode", "udp", "--listen", "127.0.0.1:0", "--workers", "2", "--to",
                ",".join(u.address for u in self.ups)]
        with lbdtest.Lbd(args) as lbd:
            self.assertIn("(udp)", lbd.log())
            names = {self.client(lbd.port).ask() for _ in range(9)}
            self.assertEqual(names, {"ns1", "ns2", "ns3"})
            self.assertEqual(lbd.stop(), 0)


class UdpConfigTest(lbdtest.LbdTestCase):
    def check(self, text):
        with lbdtest.Lbd(["--check", "{config}"], config_text=text, wait_listen=False) as lbd:
            lbd.proc.wait(30)
            return lbd.proc.returncode, lbd.log()

    def test_udp_keys_are_validated_with_their_line(self):
        text = """listeners:
  - address: 127.0.0.1:5353
    mode: udp
    backend: dns
    flow_idle_timeout: 0s
    max_flows: 0
    idle_timeout: 5s
  - address: 127.0.0.1:8080
    backend: dns
    max_flows: 10
backends:
  - name: dns
    servers:
      - address: 127.0.0.1:53
"""
        code, out = self.check(text)
        self.assertEqual(code, 2, out)
        self.assertRegex(out, r"lbd\.yaml:5:\d+: listeners\[0\]\.flow_idle_timeout: must be greater")
        self.assertRegex(out, r"lbd\.yaml:6:\d+: listeners\[0\]\.max_flows: expected a whole number")
        self.assertRegex(out, r"lbd\.yaml:7:\d+: listeners\[0\]\.idle_timeout: .*flow_idle_timeout")
        self.assertRegex(out, r"lbd\.yaml:10:\d+: listeners\[1\]\.max_flows: .*mode: udp only")

    def test_valid_udp_listener_passes(self):
        text = """listeners:
  - address: 127.0.0.1:5353
    mode: udp
    backend: dns
    flow_idle_timeout: 10s
    max_flows: 1000
backends:
  - name: dns
    balance: source_hash
    servers:
      - address: 127.0.0.1:53
"""
        code, out = self.check(text)
        self.assertEqual(code, 0, out)


def _counter(log, label):
    """The values after `label` in the udp workers' closing counter lines."""
    out = []
    for line in log.splitlines():
        if "udp worker" in line and label in line:
            out.append(line.split(label, 1)[1].split()[0].rstrip(";"))
    return out


if __name__ == "__main__":
    lbdtest.main()
