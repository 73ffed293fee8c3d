"""mode: tcp listeners (l4/): the splice relay, half-close, PROXY protocol in and out, SNI
passthrough, failover, limits, idle timeout and drain, against real peers on loopback."""
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lbdtest import (Lbd, LbdTestCase, TcpServer, Upstream, connect, free_port, main,  # noqa: E402
                     recv_to_eof, run_lbd)

MIB = 1024 * 1024


def echo_handler(conn, index):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def quick(to, *extra):
    return Lbd(["proxy", "--mode", "tcp", "--listen", "127.0.0.1:0", "--to", to,
                "--workers", "2"] + list(extra))


def closed_by_peer(sock, timeout=2.0):
    """True when the peer ended the connection (FIN or RST) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def refused(port, send=b"", timeout=2.0):
    """Connects, sends `send`, and tells whether lbd ended the connection within `timeout`.
    A reset may come before connect() has even returned."""
    try:
        s = connect(port)
    except (ConnectionResetError, ConnectionRefusedError):
        return True
    try:
        if send:
            s.sendall(send)
        return closed_by_peer(s, timeout)
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        s.close()


def echo_once(port, payload=b"ping"):
    with connect(port) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            data = s.recv(65536)
            if not data:
                break
            got += data
        return got


def tcp_config(listener_extra="", backends=None, server_extra=""):
    return ("workers: 2\nshutdown_timeout: 10s\nlisteners:\n"
            "  - name: l4\n    address: 127.0.0.1:0\n    mode: tcp\n    backend: pool\n"
            + listener_extra + "backends:\n" + (backends or ""))


def pool(name, addresses, extra=""):
    text = "  - name: %s\n" % name + extra + "    servers:\n"
    for a in addresses:
        text += "      - address: %s\n" % a
    return text


class Relay(LbdTestCase):
    def setUp(self):
        self.echo = TcpServer(echo_handler)

    def tearDown(self):
        self.echo.close()

    def test_echo(self):
        with quick(self.echo.address) as lbd:
            for size in (1, 100, 70000):
                payload = os.urandom(size)
                self.assertEqual(echo_once(lbd.port, payload), payload)
            self.assertEqual(lbd.stop(), 0)

    def test_busy_poll_relays_stops_cleanly_and_does_not_spin_while_idle(self):
        with quick(self.echo.address, "--busy-poll", "1ms") as lbd:
            for size in (1, 70000, 3 * MIB):
                payload = os.urandom(size)
                self.assertEqual(echo_once(lbd.port, payload), payload)
            # Idle: a worker polls for 1ms after each event (the 100ms sweeps), then sleeps.
            def cpu_seconds():
                with open("/proc/%d/stat" % lbd.proc.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            time.sleep(0.5)
            before = cpu_seconds()
            time.sleep(2.0)
            self.assertLess(cpu_seconds() - before, 0.6, "busy polling spins while idle")
            start = time.monotonic()
            self.assertEqual(lbd.stop(), 0)
            self.assertLess(time.monotonic() - start, 3.0)

    def test_64mib_both_directions_checksums_match(self):
        blob = os.urandom(MIB)
        digests = {}

        def sink_then_source(conn, index):
            # Reads the client's upload to EOF, then sends 64 MiB down and closes.
            h = hashlib.sha256()
            while True:
                data = conn.recv(262144)
                if not data:
                    break
                h.update(data)
            digests["up"] = h.hexdigest()
            h = hashlib.sha256()
            for i in range(64):
                chunk = bytes([i]) + blob[1:]
                h.update(chunk)
                conn.sendall(chunk)
            digests["down"] = h.hexdigest()

        server = TcpServer(sink_then_source)
        try:
            with quick(server.address) as lbd:
                s = connect(lbd.port, timeout=60)
                sent = hashlib.sha256()
                for i in range(64):
                    chunk = blob[:-1] + bytes([i])
                    sent.update(chunk)
                    s.sendall(chunk)
                s.shutdown(socket.SHUT_WR)
                got = hashlib.sha256()
                n = 0
                while True:
                    data = s.recv(262144)
                    if not data:
                        break
                    got.update(data)
                    n += len(data)
                s.close()
                self.assertEqual(server.errors, [])
                self.assertEqual(digests["up"], sent.hexdigest())
                self.assertEqual(n, 64 * MIB)
                self.assertEqual(got.hexdigest(), digests["down"])
        finally:
            server.close()

    def test_half_close_from_client(self):
        # The client's FIN reaches the server, which still answers after it.
        def answer_after_eof(conn, index):
            got = recv_to_eof(conn)
            conn.sendall(b"after-eof:" + got)

        server = TcpServer(answer_after_eof)
        try:
            with quick(server.address) as lbd:
                s = connect(lbd.port)
                s.sendall(b"question")
                s.shutdown(socket.SHUT_WR)
                reply = recv_to_eof(s)
                s.close()
                self.assertEqual(reply, b"after-eof:question")
        finally:
            server.close()

    def test_half_close_from_server(self):
        # The server's FIN reaches the client, which can still send to the server.
        late = {}
        done = threading.Event()

        def greet_then_listen(conn, index):
            conn.sendall(b"hello")
            conn.shutdown(socket.SHUT_WR)
            got = recv_to_eof(conn)
            late["data"] = got
            done.set()

        server = TcpServer(greet_then_listen)
        try:
            with quick(server.address) as lbd:
                s = connect(lbd.port)
                greeting = recv_to_eof(s)
                self.assertEqual(greeting, b"hello")
                s.sendall(b"still-talking")
                s.shutdown(socket.SHUT_WR)
                self.assertTrue(done.wait(5))
                self.assertEqual(late["data"], b"still-talking")
                self.assertEqual(s.recv(10), b"")
                s.close()
        finally:
            server.close()

    def test_reset_is_propagated(self):
        # An RST from the server reaches the client as an RST, not as a clean end of stream.
        def reset(conn, index):
            conn.recv(100)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        server = TcpServer(reset)
        try:
            with quick(server.address) as lbd:
                s = connect(lbd.port)
                s.sendall(b"x")
                with self.assertRaises(ConnectionResetError):
                    for _ in range(10):
                        if s.recv(10) == b"":
                            break
                s.close()
        finally:
            server.close()


class ProxyProtocol(LbdTestCase):
    def received_by_upstream(self, extra, client_bytes=b"payload"):
        up = Upstream(respond=lambda conn, buf: buf)
        try:
            with Lbd(["proxy", "--mode", "tcp", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--workers", "1"] + extra) as lbd:
                s = connect(lbd.port)
                cport = s.getsockname()[1]
                s.sendall(client_bytes)
                deadline = time.time() + 5
                while len(up.all_received()) < len(client_bytes) and time.time() < deadline:
                    time.sleep(0.02)
                s.close()
                return up.all_received(), cport, lbd.port
        finally:
            up.close()

    def test_send_v1(self):
        got, cport, lport = self.received_by_upstream(["--send-proxy", "v1"])
        self.assertEqual(got, b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\npayload" % (cport, lport))

    def test_send_v2(self):
        got, cport, lport = self.received_by_upstream(["--send-proxy", "v2"])
        expected = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack("!H", 12) +
                    socket.inet_aton("127.0.0.1") + socket.inet_aton("127.0.0.1") +
                    struct.pack("!HH", cport, lport) + b"payload")
        self.assertEqual(got, expected)

    def trusted_lbd(self, up, cidrs):
        config = tcp_config("    proxy_protocol_from: [%s]\n    header_timeout: 2s\n" % cidrs,
                            pool("pool", [up.address], "    send_proxy_protocol: v1\n"))
        return Lbd(["--config", "{config}"], config_text=config)

    def test_accepts_v2_from_trusted_source_and_forwards_its_client(self):
        up = Upstream(respond=lambda conn, buf: buf)
        try:
            with self.trusted_lbd(up, "127.0.0.1/32") as lbd:
                header = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" + struct.pack("!H", 12) +
                          socket.inet_aton("203.0.113.7") + socket.inet_aton("198.51.100.1") +
                          struct.pack("!HH", 5555, 443))
                s = connect(lbd.port)
                s.sendall(header + b"data")
                want = b"PROXY TCP4 203.0.113.7 198.51.100.1 5555 443\r\ndata"
                deadline = time.time() + 5
                while len(up.all_received()) < len(want) and time.time() < deadline:
                    time.sleep(0.02)
                self.assertEqual(up.all_received(), want)
                s.close()
                # A v1 header works the same way.
                s = connect(lbd.port)
                s.sendall(b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nmore")
                want += b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\nmore"
                deadline = time.time() + 5
                while len(up.all_received()) < len(want) and time.time() < deadline:
                    time.sleep(0.02)
                self.assertEqual(up.all_received(), want)
                s.close()
                # A malformed header is closed and never reaches the upstream.
                before = up.connections
                self.assertTrue(refused(lbd.port, b"PROXY TCP9 nonsense\r\n"))
                self.assertEqual(up.connections, before)
        finally:
            up.close()

    def test_untrusted_source_is_closed(self):
        up = Upstream(respond=lambda conn, buf: buf)
        try:
            with self.trusted_lbd(up, "10.0.0.0/8") as lbd:
                self.assertTrue(refused(lbd.port, b"PROXY TCP4 10.1.1.1 10.1.1.2 1 2\r\nx", 1.0))
                time.sleep(0.2)
                self.assertEqual(up.connections, 0)
        finally:
            up.close()


class SniPassthrough(LbdTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lbd-sni-")
        cls.servers = []
        cls.ports = {}
        for name in ("a.example.com", "x.b.example.com"):
            key = os.path.join(cls.tmp.name, name + ".key")
            crt = os.path.join(cls.tmp.name, name + ".crt")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "1", "-subj", "/CN=" + name],
                           check=True, capture_output=True, timeout=30)
            port = free_port()
            proc = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                                     "-cert", crt, "-key", key, "-www", "-quiet"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            cls.servers.append(proc)
            cls.ports[name] = port
        for port in cls.ports.values():
            deadline = time.time() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        for p in cls.servers:
            p.kill()
            p.wait()
        cls.tmp.cleanup()

    def setUp(self):
        self.echo = TcpServer(echo_handler)
        config = ("workers: 2\nlisteners:\n"
                  "  - name: sni\n    address: 127.0.0.1:0\n    mode: tcp\n"
                  "    header_timeout: 1s\n    backend: plain\n"
                  "    sni_routes:\n"
                  "      - sni: [a.example.com]\n        backend: pool_a\n"
                  "      - sni: ['*.b.example.com']\n        backend: pool_b\n"
                  "backends:\n" +
                  pool("pool_a", ["127.0.0.1:%d" % self.ports["a.example.com"]]) +
                  pool("pool_b", ["127.0.0.1:%d" % self.ports["x.b.example.com"]]) +
                  pool("plain", [self.echo.address]))
        self.lbd = Lbd(["--config", "{config}"], config_text=config)

    def tearDown(self):
        self.lbd.__exit__(None, None, None)
        self.echo.close()

    def subject(self, servername):
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.lbd.port,
                            "-servername", servername],
                           input=b"", capture_output=True, timeout=20)
        out = p.stdout.decode(errors="replace")
        for line in out.splitlines():
            if line.startswith("subject="):
                return line.split("CN", 1)[1].strip(" =")
        return None

    def test_routes_by_server_name(self):
        self.assertEqual(self.subject("a.example.com"), "a.example.com")
        self.assertEqual(self.subject("A.Example.COM"), "a.example.com")
        self.assertEqual(self.subject("x.b.example.com"), "x.b.example.com")
        self.assertEqual(self.subject("deep.x.b.example.com"), "x.b.example.com")

    def captured_client_hello(self, servername):
        """The bytes `openssl s_client -tls1_2` sends first (TLS 1.2: the answer's certificate
        is readable on the wire)."""
        got = {}
        server = TcpServer(lambda conn, index: got.setdefault("hello", conn.recv(65536)))
        try:
            subprocess.run(["openssl", "s_client", "-connect", server.address, "-tls1_2",
                            "-servername", servername], input=b"", capture_output=True,
                           timeout=20)
        finally:
            server.close()
        return got["hello"]

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.lbd.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_client_hello_in_pieces(self):
        # A ClientHello split across segments is gathered (without spinning while it waits).
        hello = self.captured_client_hello("a.example.com")
        self.assertGreater(len(hello), 60)
        s = connect(self.lbd.port)
        s.sendall(hello[:40])
        before = self.cpu_seconds()
        time.sleep(0.6)  # within header_timeout (1s)
        self.assertLess(self.cpu_seconds() - before, 0.2)
        s.sendall(hello[40:])
        answer = b""
        s.settimeout(5)
        while b"a.example.com" not in answer:
            data = s.recv(65536)
            if not data:
                break
            answer += data
        s.close()
        self.assertTrue(answer.startswith(b"\x16\x03"), answer[:20])
        self.assertIn(b"a.example.com", answer)  # pool_a's certificate

    def test_not_tls_goes_to_default_backend(self):
        self.assertEqual(echo_once(self.lbd.port, b"plain text, not TLS"), b"plain text, not TLS")

    def test_malformed_client_hello_is_closed(self):
        cases = [
            b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello from a client
            b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\xff\xff\xff\xff",  # a body too short
            b"\x16\x03\x01\x00\x00",  # an empty record
        ]
        for bad in cases:
            self.assertTrue(refused(self.lbd.port, bad), bad)
        self.assertEqual(self.echo.connections, 0)

    def test_truncated_client_hello_is_closed_at_header_timeout(self):
        s = connect(self.lbd.port)
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # promises 512 bytes
        start = time.time()
        self.assertTrue(closed_by_peer(s, timeout=5.0))
        self.assertLess(time.time() - start, 3.0)
        s.close()
        self.assertEqual(self.echo.connections, 0)


class Failover(LbdTestCase):
    def test_killed_upstream_fails_over_for_new_connections(self):
        a, b = TcpServer(echo_handler), TcpServer(echo_handler)
        try:
            with quick(a.address + "," + b.address) as lbd:
                for i in range(4):
                    self.assertEqual(echo_once(lbd.port, b"before%d" % i), b"before%d" % i)
                self.assertGreater(a.connections, 0)
                self.assertGreater(b.connections, 0)
                # Stop listening (shutdown wakes the blocked accept): connects are refused now.
                a.sock.shutdown(socket.SHUT_RDWR)
                a.close()
                served_by_b = b.connections
                for i in range(10):
                    self.assertEqual(echo_once(lbd.port, b"after%d" % i), b"after%d" % i)
                self.assertEqual(b.connections, served_by_b + 10)
        finally:
            a.close()
            b.close()

    def test_all_servers_down_refuses_at_once(self):
        with quick("127.0.0.1:%d,127.0.0.1:%d" % (free_port(), free_port())) as lbd:
            for _ in range(3):
                start = time.time()
                self.assertTrue(refused(lbd.port))
                self.assertLess(time.time() - start, 1.0)


class Limits(LbdTestCase):
    def setUp(self):
        self.echo = TcpServer(echo_handler)

    def tearDown(self):
        self.echo.close()

    def test_idle_timeout_closes_a_quiet_session(self):
        config = tcp_config("    idle_timeout: 1s\n", pool("pool", [self.echo.address]))
        with Lbd(["--config", "{config}"], config_text=config) as lbd:
            s = connect(lbd.port)
            for _ in range(4):  # traffic keeps it open past the timeout
                s.sendall(b"x")
                self.assertEqual(s.recv(1), b"x")
                time.sleep(0.4)
            start = time.time()
            self.assertTrue(closed_by_peer(s, timeout=3.0))
            self.assertGreater(time.time() - start, 0.5)
            s.close()

    def test_listener_max_connections(self):
        config = tcp_config("    max_connections: 2\n", pool("pool", [self.echo.address]))
        with Lbd(["--config", "{config}"], config_text=config) as lbd:
            held = [connect(lbd.port), connect(lbd.port)]
            for s in held:
                s.sendall(b"x")
                self.assertEqual(s.recv(1), b"x")
            self.assertTrue(refused(lbd.port))
            held.pop().close()
            deadline = time.time() + 5
            while True:  # the slot frees once lbd has seen the close
                try:
                    with connect(lbd.port) as s:
                        s.sendall(b"y")
                        if s.recv(1) == b"y":
                            break
                except (ConnectionResetError, BrokenPipeError):
                    pass  # refused: the close has not been seen yet
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            held[0].close()

    def test_server_max_connections_skips_a_full_server(self):
        other = TcpServer(echo_handler)
        try:
            config = tcp_config("", "  - name: pool\n    servers:\n"
                                "      - address: %s\n        max_connections: 1\n"
                                "      - address: %s\n" % (self.echo.address, other.address))
            with Lbd(["--config", "{config}"], config_text=config) as lbd:
                held = []
                for _ in range(5):
                    s = connect(lbd.port)
                    s.sendall(b"z")
                    self.assertEqual(s.recv(1), b"z")
                    held.append(s)
                self.assertEqual(self.echo.connections, 1)
                self.assertEqual(other.connections, 4)
                for s in held:
                    s.close()
        finally:
            other.close()

    def full_pool(self, queue):
        return ("  - name: pool\n    queue: %s\n    servers:\n"
                "      - address: %s\n        max_connections: 1\n" % (queue, self.echo.address))

    def test_every_server_full_queues_until_a_slot_frees(self):
        config = tcp_config("", self.full_pool("{size: 5, timeout: 10s}"))
        with Lbd(["--config", "{config}"], config_text=config) as lbd:
            a = connect(lbd.port)
            a.sendall(b"a")
            self.assertEqual(a.recv(1), b"a")
            b = connect(lbd.port)
            b.sendall(b"b")  # waits in the kernel while the connection is queued
            b.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                b.recv(1)
            self.assertEqual(self.echo.connections, 1)
            a.close()
            b.settimeout(3)
            self.assertEqual(b.recv(1), b"b")
            self.assertEqual(self.echo.connections, 2)
            b.close()

    def test_queue_timeout_closes_and_size_0_refuses_at_once(self):
        config = tcp_config("", self.full_pool("{size: 5, timeout: 1s}"))
        with Lbd(["--config", "{config}"], config_text=config) as lbd:
            a = connect(lbd.port)
            a.sendall(b"a")
            self.assertEqual(a.recv(1), b"a")
            start = time.time()
            self.assertTrue(refused(lbd.port, b"c", timeout=4.0))
            self.assertGreater(time.time() - start, 0.8)
            a.close()
        config = tcp_config("", self.full_pool("{size: 0, timeout: 1s}"))
        with Lbd(["--config", "{config}"], config_text=config) as lbd:
            a = connect(lbd.port)
            a.sendall(b"a")
            self.assertEqual(a.recv(1), b"a")
            start = time.time()
            self.assertTrue(refused(lbd.port, b"c", timeout=4.0))
            self.assertLess(time.time() - start, 0.5)
            a.close()

    def test_sigterm_drain_lets_open_session_finish(self):
        with quick(self.echo.address) as lbd:
            s = connect(lbd.port)
            s.sendall(b"a")
            self.assertEqual(s.recv(1), b"a")
            lbd.send_signal(signal.SIGTERM)
            lbd.wait_log("shutting down")
            time.sleep(0.3)
            with self.assertRaises(OSError):  # the listener is closed
                connect(lbd.port, timeout=1).close()
            for i in range(3):
                s.sendall(b"b%d" % i)
                self.assertEqual(s.recv(2), b"b%d" % i)
            self.assertIsNone(lbd.proc.poll())
            s.close()
            self.assertEqual(lbd.proc.wait(10), 0)


class Reload(LbdTestCase):
    def test_sighup_moves_new_sessions_and_keeps_open_ones(self):
        a, b = TcpServer(echo_handler), TcpServer(echo_handler)
        try:
            with Lbd(["--config", "{config}"],
                     config_text=tcp_config("", pool("pool", [a.address]))) as lbd:
                old = connect(lbd.port)
                old.sendall(b"1")
                self.assertEqual(old.recv(1), b"1")
                with open(lbd.config_path, "w") as f:
                    f.write(tcp_config("", pool("pool", [b.address])))
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("reloaded")
                time.sleep(0.2)  # the workers pick the snapshot up from their queues
                self.assertEqual(echo_once(lbd.port, b"new"), b"new")
                self.assertEqual((a.connections, b.connections), (1, 1))
                old.sendall(b"2")  # still relayed to the server it started with
                self.assertEqual(old.recv(1), b"2")
                old.close()
        finally:
            a.close()
            b.close()


class Config(LbdTestCase):
    def check(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        try:
            return run_lbd(["--check", f.name])
        finally:
            os.unlink(f.name)

    def test_http_only_key_on_tcp_listener_is_an_error(self):
        code, out, err = self.check(tcp_config("    routes:\n      - backend: pool\n",
                                               pool("pool", ["127.0.0.1:9"])))
        self.assertEqual(code, 2, out + err)
        self.assertIn("listeners[0].routes", out + err)
        self.assertIn("mode: http only", out + err)

    def test_sni_route_backend_did_you_mean(self):
        code, out, err = self.check(tcp_config(
            "    sni_routes:\n      - sni: [a.example.com]\n        backend: poool\n",
            pool("pool", ["127.0.0.1:9"])))
        self.assertEqual(code, 2, out + err)
        self.assertIn("sni_routes[0].backend", out + err)
        self.assertIn("did you mean 'pool'", out + err)

    def test_tcp_key_on_http_listener_is_an_error(self):
        text = tcp_config("    max_connections: 5\n", pool("pool", ["127.0.0.1:9"]))
        code, out, err = self.check(text.replace("mode: tcp", "mode: http"))
        self.assertEqual(code, 2, out + err)
        self.assertIn("max_connections applies to mode: tcp only", out + err)

    def test_example_config_loads(self):
        path = os.path.join(os.path.dirname(__file__), "../../examples/l4.yaml")
        code, out, err = run_lbd(["--check", path])
        self.assertEqual(code, 0, out + err)


if __name__ == "__main__":
    main()
