#!/usr/bin/env python3
"""HTTP/2 on an h2c listener: real clients (curl, nghttp, h2load) and hand-built attack frames.

Streams are forwarded to HTTP/1.1 upstreams (the harness's recording servers). The attack tests
speak raw HTTP/2 over a socket: literal header fields without indexing are easy to encode by
hand, so no HPACK library is needed.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import lbdtest  # noqa: E402
from lbdtest import HttpUpstream, Lbd, LbdTestCase, free_port, rss_kib  # noqa: E402

BIG = 2 * 1024 * 1024  # bytes of the large response


def handler(name):
    big_body = (b"0123456789abcdef" * (BIG // 16))

    def respond(req):
        target = req.target.decode()
        if target.startswith("/big"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big_body), big_body)
        if target.startswith("/chunked"):
            pieces = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"hello ", b"chunked ", b"world"))
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
                    b"Keep-Alive: timeout=5\r\nX-Up: %s\r\n\r\n%s0\r\n\r\n" % (name.encode(), pieces))
        if target.startswith("/sha"):
            digest = hashlib.sha256(req.body).hexdigest().encode()
            return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Len: %d\r\n\r\n%s"
                    % (len(digest), len(req.body), digest))
        body = b"%s %s" % (name.encode(), req.target)
        return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Up: %s\r\n\r\n%s" % (
            len(body), name.encode(), body)
    return respond


CONFIG = """
workers: 1
metrics: { address: 127.0.0.1:0 }
listeners:
  - name: h2
    address: 127.0.0.1:0
    backend: web
    idle_timeout: 2s
    access_log: { format: combined, path: %(log)s }
    http2: { h2c: true, max_concurrent_streams: 100, max_header_list_size: 64KiB,
             initial_window_size: 64KiB, max_frame_size: 16KiB }
    routes:
      - match: { path_prefix: /down }
        backend: down
      - match: { path_prefix: /fixed }
        respond: { status: 201, body: "fixed answer" }
  - name: plain
    address: 127.0.0.1:0
    backend: web
backends:
  - name: web
    servers:
%(servers)s
  - name: down
    servers:
      - { name: off, address: 127.0.0.1:%(dead)d, admin: disabled }
"""


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise unittest_skip("%s not installed (Debian: nghttp2-client / curl)" % name)
    return path


def unittest_skip(msg):
    import unittest
    return unittest.SkipTest(msg)


# ---------------------------------------------------------------------------------------------
# Raw HTTP/2 frames

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
ENHANCE_YOUR_CALM = 0xB


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman."""
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def request_block(path=b"/", authority=b"h2.test", method=b"GET"):
    return (literal(b":method", method) + literal(b":scheme", b"http") +
            literal(b":path", path) + literal(b":authority", authority))


def settings(**kv):
    ids = {"header_table_size": 1, "enable_push": 2, "max_concurrent_streams": 3,
           "initial_window_size": 4, "max_frame_size": 5}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


class Conn:
    """A raw HTTP/2 client connection that reads frames on a thread."""

    def __init__(self, port, first_settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(PREFACE + (first_settings or settings()))
        self.frames = []
        self.closed = False
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 9:
                    n = struct.unpack(">I", b"\0" + buf[:3])[0]
                    if len(buf) < 9 + n:
                        break
                    f = (buf[3], buf[4], struct.unpack(">I", buf[5:9])[0] & 0x7FFFFFFF, buf[9:9 + n])
                    buf = buf[9 + n:]
                    with self.lock:
                        self.frames.append(f)
        except OSError:
            pass
        self.closed = True

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False  # the server already closed: what matters is what it answered

    def goaway(self, timeout=10.0):
        """The error code of the GOAWAY received (waits for it), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                for ftype, _, _, payload in self.frames:
                    if ftype == GOAWAY:
                        return struct.unpack(">I", payload[4:8])[0]
            if self.closed:
                break
            time.sleep(0.02)
        with self.lock:
            for ftype, _, _, payload in self.frames:
                if ftype == GOAWAY:
                    return struct.unpack(">I", payload[4:8])[0]
        return None

    def wait_closed(self, timeout=10.0):
        self.thread.join(timeout)
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Http2Test(LbdTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = [HttpUpstream("u%d" % i, None) for i in range(3)]
        for u in cls.ups:
            u.handler = handler(u.name)
        cls.tmp = tempfile.TemporaryDirectory(prefix="h2test-")
        cls.access_log = os.path.join(cls.tmp.name, "access.log")
        servers = "\n".join("      - { name: %s, address: %s }" % (u.name, u.address)
                            for u in cls.ups)
        cls.lbd = Lbd(["--config", "{config}"], CONFIG % {
            "servers": servers, "dead": free_port(), "log": cls.access_log})
        cls.port = cls.lbd.ports["h2"]
        cls.plain_port = cls.lbd.ports["plain"]
        cls.url = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        code = cls.lbd.stop()
        for u in cls.ups:
            u.close()
        cls.lbd.__exit__(None, None, None)
        cls.tmp.cleanup()
        assert code == 0, code

    def curl(self, *args, data=None):
        p = subprocess.run([tool("curl"), "-sS", "--http2-prior-knowledge", "--max-time", "20"] +
                           list(args), capture_output=True, input=data, timeout=30)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def requests_seen(self):
        return sum(len(u.requests) for u in self.ups)

    def assert_healthy(self):
        """Another client's request still works."""
        code, out, err = self.curl("-w", "\n%{http_code} %{http_version}", self.url + "/check")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith(b"\n200 2"), out)

    # -- real clients ----------------------------------------------------------------------

    def test_curl_prior_knowledge(self):
        code, out, err = self.curl("-D", "-", self.url + "/hello?x=1")
        self.assertEqual(code, 0, err)
        self.assertIn(b"HTTP/2 200", out)
        self.assertRegex(out, rb"\r\n\r\nu\d /hello\?x=1$")
        # The upstream got an HTTP/1.1 request with the forwarding fields and Host from
        # :authority.
        req = [r for u in self.ups for _, r in u.requests if r.target == b"/hello?x=1"][-1]
        self.assertEqual(req.version, b"HTTP/1.1")
        self.assertEqual(req.header("host"), b"127.0.0.1:%d" % self.port)
        self.assertEqual(req.header("x-forwarded-for"), b"127.0.0.1")
        self.assertEqual(req.header("x-forwarded-proto"), b"http")

    def test_chunked_response_loses_hop_by_hop_fields(self):
        code, out, err = self.curl("-D", "-", self.url + "/chunked")
        self.assertEqual(code, 0, err)
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertEqual(body, b"hello chunked world")
        for name in (b"transfer-encoding", b"connection", b"keep-alive"):
            self.assertNotIn(name, head.lower())
        self.assertIn(b"x-up:", head.lower())

    def test_many_streams_one_connection_spread_over_servers(self):
        before = [len(u.requests) for u in self.ups]
        urls = [self.url + "/many/%d" % i for i in range(30)]
        p = subprocess.run([tool("nghttp"), "-n", "-s"] + urls, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        # nghttp's stats list one line per request with its status.
        self.assertEqual(len(re.findall(rb"\s200\s", p.stdout)), 30, p.stdout)
        got = [len(u.requests) - b for u, b in zip(self.ups, before)]
        self.assertEqual(sum(got), 30)
        for n in got:
            self.assertGreaterEqual(n, 5, got)  # round robin: every server took a share

    def test_post_1mib_body_arrives_intact(self):
        body = os.urandom(1024 * 1024)
        want = hashlib.sha256(body).hexdigest().encode()
        # curl sends content-length; `-T -` (PUT from stdin) sends none, so the proxy chunks it.
        code, out, err = self.curl("--data-binary", "@-", self.url + "/sha", data=body)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, want)
        code, out, err = self.curl("-T", "-", self.url + "/sha-put", data=body)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, want)
        put = [r for u in self.ups for _, r in u.requests if r.target == b"/sha-put"][-1]
        self.assertEqual(put.header("transfer-encoding"), b"chunked")

    def test_nghttp_post_body(self):
        with tempfile.NamedTemporaryFile() as f:
            body = os.urandom(300 * 1024)
            f.write(body)
            f.flush()
            p = subprocess.run([tool("nghttp"), "-d", f.name, self.url + "/sha"],
                               capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), hashlib.sha256(body).hexdigest().encode())

    def test_large_response_small_client_window(self):
        p = subprocess.run([tool("nghttp"), "-w", "16", "-W", "16", self.url + "/big"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout), BIG)
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(),
                         hashlib.sha256(b"0123456789abcdef" * (BIG // 16)).hexdigest())

    def test_errors_and_local_answers(self):
        code, out, err = self.curl("-w", "\n%{http_code}", self.url + "/down")
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith(b"\n503"), out)
        code, out, err = self.curl("-w", "\n%{http_code}", self.url + "/fixed")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"fixed answer\n201")

    def test_http1_clients_unaffected(self):
        for port in (self.port, self.plain_port):
            p = subprocess.run([tool("curl"), "-sS", "--http1.1", "-w", " %{http_version}",
                                "http://127.0.0.1:%d/h1" % port], capture_output=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, rb"^u\d /h1 1.1$")
        # Without h2c on the listener the preface is just a bad HTTP/1.1 request.
        s = socket.create_connection(("127.0.0.1", self.plain_port), timeout=5)
        s.sendall(PREFACE + settings())
        answer = lbdtest.recv_to_eof(s)
        s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 4") or answer.startswith(b"HTTP/1.1 5"),
                        answer)

    def test_access_log_says_http2(self):
        self.curl(self.url + "/logged")
        deadline = time.time() + 5
        while time.time() < deadline:
            with open(self.access_log, "rb") as f:
                text = f.read()
            if b"/logged" in text:
                break
            time.sleep(0.05)
        self.assertRegex(text, rb'"GET /logged HTTP/2.0" 200 ')

    def test_metrics_count_streams(self):
        def scrape():
            self.lbd.wait_log("metrics on")
            port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                                 self.lbd.log()).group(1))
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                          timeout=5).read().decode()

            def value(name, labels):
                m = re.search(r"(?m)^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(labels)),
                              text)
                self.assertIsNotNone(m, "%s{%s} not exported" % (name, labels))
                return float(m.group(1))
            return (value("fulcrum_http_responses_total", 'listener="h2",code_class="2xx"'),
                    value("fulcrum_backend_requests_total", 'backend="web"'),
                    value("fulcrum_http_responses_total", 'listener="h2",code_class="5xx"'))
        before = scrape()
        p = subprocess.run([tool("nghttp"), "-n"] + [self.url + "/m/%d" % i for i in range(7)] +
                           [self.url + "/down"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        after = scrape()
        self.assertEqual(after[0] - before[0], 7)
        self.assertEqual(after[1] - before[1], 7)
        self.assertEqual(after[2] - before[2], 1)

    def test_h2load(self):
        p = subprocess.run([tool("h2load"), "-n", "2000", "-c", "10", "-m", "10",
                            self.url + "/load"], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"2000 succeeded", p.stdout, p.stdout)
        self.assertIn(b"status codes: 2000 2xx", p.stdout, p.stdout)

    # -- attacks ---------------------------------------------------------------------------

    def attack(self, build, reason, expect=ENHANCE_YOUR_CALM, first_settings=None, timeout=10.0):
        """Runs one attack connection; asserts GOAWAY(expect) for `reason` (the log names the
        defence that acted), bounded RSS, and that other clients are unaffected."""
        pid = self.lbd.proc.pid
        seen = self.lbd.log().count(reason)
        rss_before = rss_kib(pid)
        c = Conn(self.port, first_settings)
        build(c)
        code = c.goaway(timeout)
        c.close()
        self.assertEqual(code, expect, "GOAWAY code %r, frames %r" % (
            code, [f[0] for f in c.frames[-5:]]))
        self.assertTrue(c.wait_closed(5), "the server did not close the connection")
        self.lbd.wait_log(reason, count=seen + 1)
        grown = rss_kib(pid) - rss_before
        self.assertLess(grown, 64 * 1024, "lbd grew by %d KiB" % grown)
        self.assert_healthy()

    def test_rapid_reset(self):
        def build(c):
            burst = b""
            for i in range(1000):
                sid = 2 * i + 1
                burst += frame(HEADERS, END_HEADERS | END_STREAM, sid, request_block(b"/rr"))
                burst += frame(RST_STREAM, 0, sid, struct.pack(">I", 8))  # CANCEL
                if len(burst) > 32768:
                    if not c.send(burst):
                        return
                    burst = b""
            c.send(burst)
        self.attack(build, "RST_STREAM flood (rapid reset)")

    def test_continuation_flood(self):
        def build(c):
            c.send(frame(HEADERS, 0, 1, request_block(b"/cont")))
            for i in range(5000):
                if not c.send(frame(CONTINUATION, 0, 1, literal(b"x-filler-%d" % i, b"y" * 100))):
                    return
        self.attack(build, "CONTINUATION flood")

    def test_hpack_bomb(self):
        def build(c):
            # One 4000-byte field into the dynamic table (literal with incremental indexing),
            # then a one-byte reference to it (index 62) many times: 1 byte becomes 4 KiB.
            block = request_block(b"/bomb")
            block += b"\x40" + hpack_int(6, 7) + b"x-bomb" + hpack_int(4000, 7) + b"z" * 4000
            block += b"\xbe" * 4000
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        self.attack(build, "header list over max_header_list_size")

    def test_settings_and_ping_flood(self):
        def build(c):
            burst = b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) + settings()
                             for i in range(5000))
            c.send(burst)
        self.attack(build, "SETTINGS/PING flood")

    def test_zero_window_stall(self):
        def build(c):
            # Stream windows of 0 and no WINDOW_UPDATE ever: the responses can never be sent.
            for sid in (1, 3, 5, 7):
                c.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, request_block(b"/big")))
        started = time.time()
        self.attack(build, "flow-control window closed too long",
                    first_settings=settings(initial_window_size=0), timeout=15)
        # idle_timeout is 2s: the stall is noticed after it, not at once.
        self.assertGreater(time.time() - started, 1.5)


H2_UPSTREAM_CONFIG = """
workers: 1
listeners:
  - name: h2
    address: 127.0.0.1:0
    backend: grpc
    http2: { h2c: true }
    routes:
      - match: { path_prefix: /gone }
        backend: gone
backends:
  - name: grpc
    protocol: h2
    servers: [127.0.0.1:%d]
  - name: gone
    protocol: h2
    servers: [127.0.0.1:%d]
"""


class H2UpstreamTest(LbdTestCase):
    """A `protocol: h2` backend: nghttpd (h2c) echoes uploads and adds a gRPC-style trailer."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="h2up-")
        cls.blob = os.urandom(200 * 1024)
        with open(os.path.join(cls.tmp.name, "blob"), "wb") as f:
            f.write(cls.blob)
        cls.up_port = free_port()
        cls.nghttpd = subprocess.Popen(
            [tool("nghttpd"), "--no-tls", "--echo-upload", "--trailer", "grpc-status: 0",
             "-d", cls.tmp.name, str(cls.up_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", cls.up_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        cls.lbd = Lbd(["--config", "{config}"], H2_UPSTREAM_CONFIG % (cls.up_port, free_port()))
        cls.url = "http://127.0.0.1:%d" % cls.lbd.port

    @classmethod
    def tearDownClass(cls):
        code = cls.lbd.stop()
        cls.lbd.__exit__(None, None, None)
        if cls.nghttpd.poll() is None:
            cls.nghttpd.terminate()
            cls.nghttpd.wait(10)
        cls.tmp.cleanup()
        assert code == 0, code

    def test_get_and_trailers(self):
        p = subprocess.run([tool("nghttp"), "-v", self.url + "/blob"], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn(b":status: 200", out)
        # The trailer arrives in a HEADERS frame with END_STREAM after the DATA.
        trailer = out.rindex(b"grpc-status: 0")
        self.assertGreater(trailer, out.rindex(b"recv DATA frame"))
        self.assertIn(b"END_STREAM | END_HEADERS", out[trailer:])

    def test_post_echo_streams_through(self):
        body = os.urandom(1024 * 1024)
        p = subprocess.run([tool("curl"), "-sS", "--http2-prior-knowledge", "--data-binary", "@-",
                            self.url + "/echo"], input=body, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), hashlib.sha256(body).hexdigest())

    def test_many_streams_multiplexed(self):
        p = subprocess.run([tool("h2load"), "-n", "2000", "-c", "4", "-m", "10",
                            self.url + "/blob"], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"status codes: 2000 2xx", p.stdout, p.stdout)

    def test_grpc_style_slow_upload_then_trailers(self):
        """A request body trickling in over a second (a client stream), then the echoed body
        and a trailers HEADERS frame ending the stream."""
        c = Conn(self.lbd.port)
        try:
            block = request_block(b"/stream", method=b"POST") + literal(b"te", b"trailers")
            c.send(frame(HEADERS, END_HEADERS, 1, block))
            pieces = [os.urandom(1000) for _ in range(5)]
            for i, piece in enumerate(pieces):
                time.sleep(0.25)
                c.send(frame(DATA, END_STREAM if i == len(pieces) - 1 else 0, 1, piece))
            deadline = time.time() + 10
            while time.time() < deadline:
                with c.lock:
                    mine = [f for f in c.frames if f[2] == 1]
                if mine and mine[-1][0] == HEADERS and mine[-1][1] & END_STREAM:
                    break
                time.sleep(0.02)
            self.assertEqual([f[0] for f in mine][0], HEADERS)
            self.assertEqual(b"".join(f[3] for f in mine if f[0] == DATA), b"".join(pieces))
            last = mine[-1]
            self.assertEqual((last[0], last[1] & END_STREAM), (HEADERS, END_STREAM), mine)
            self.assertGreater(len([f for f in mine if f[0] == HEADERS]), 1)  # head + trailers
        finally:
            c.close()

    def test_server_down_is_502(self):
        p = subprocess.run([tool("curl"), "-sS", "--http2-prior-knowledge", "-w", "%{http_code}",
                            "-o", "/dev/null", self.url + "/gone"], capture_output=True, timeout=20)
        self.assertEqual(p.stdout, b"502", p.stderr)
        self.lbd.wait_log("connect failed")

    def test_http1_client_is_served_too(self):
        # HTTP/1.1 clients reach h2 backends as well (tests/integration/test_h1_to_h2.py).
        p = subprocess.run([tool("curl"), "-sS", "--http1.1", self.url + "/blob"],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, self.blob)


class TlsH2Test(LbdTestCase):
    """h2 over TLS (ALPN): the TLS engine hands the connection and its SSL to the HTTP/2
    engine, which then reads and writes through SSL_read/SSL_write."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="h2tls-")
        cls.cert = os.path.join(cls.tmp.name, "c.pem")
        cls.key = os.path.join(cls.tmp.name, "c.key")
        subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", cls.key, "-out", cls.cert,
                        "-subj", "/CN=h2.test", "-addext", "subjectAltName=DNS:h2.test",
                        "-days", "2"], check=True, capture_output=True, timeout=30)
        cls.up = HttpUpstream("tls-up")
        cls.up.handler = handler("tls-up")
        cls.lbd = Lbd(["--config", "{config}"], """
workers: 1
listeners:
  - name: tls
    address: 127.0.0.1:0
    backend: app
    tls:
      certificates:
        - { cert: %s, key: %s }
    hsts: { max_age: 1h }
backends:
  - name: app
    servers: [%s]
""" % (cls.cert, cls.key, cls.up.address))
        cls.url = "https://h2.test:%d" % cls.lbd.port
        cls.resolve = "h2.test:%d:127.0.0.1" % cls.lbd.port

    @classmethod
    def tearDownClass(cls):
        code = cls.lbd.stop()
        cls.lbd.__exit__(None, None, None)
        cls.up.close()
        cls.tmp.cleanup()
        assert code == 0, code

    def test_curl_h2_over_tls_with_hsts_and_upload(self):
        body = os.urandom(512 * 1024)
        p = subprocess.run([tool("curl"), "-sS", "-D", "-", "--http2", "--cacert", self.cert,
                            "--resolve", self.resolve, "--data-binary", "@-", self.url + "/sha"],
                           input=body, capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        head, _, got = p.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/2 200"), head)
        self.assertIn(b"strict-transport-security: max-age=3600", head)
        self.assertEqual(got, hashlib.sha256(body).hexdigest().encode())
        req = [r for _, r in self.up.requests if r.target == b"/sha"][-1]
        self.assertEqual(req.header("x-forwarded-proto"), b"https")

    def test_large_response_and_h2load_over_tls(self):
        p = subprocess.run([tool("curl"), "-sS", "--http2", "--cacert", self.cert, "--resolve",
                            self.resolve, self.url + "/big"], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(p.stdout), BIG)
        p = subprocess.run([tool("h2load"), "-n", "1000", "-c", "4", "-m", "10",
                            "https://127.0.0.1:%d/load" % self.lbd.port],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"status codes: 1000 2xx", p.stdout, p.stdout)


class QueueTest(LbdTestCase):
    """Streams wait for a server slot (max_connections) in the backend's queue."""

    def test_streams_queue_for_a_full_server(self):
        active = [0, 0]  # now, most at once
        lock = threading.Lock()

        def slow(req):
            with lock:
                active[0] += 1
                active[1] = max(active[1], active[0])
            time.sleep(0.3)
            with lock:
                active[0] -= 1
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        up = HttpUpstream("slow", slow)
        try:
            with Lbd(["--config", "{config}"], """
workers: 1
listeners:
  - name: h2
    address: 127.0.0.1:0
    backend: one
    http2: { h2c: true }
backends:
  - name: one
    queue: { size: 2, timeout: 5s }
    servers:
      - { address: %s, max_connections: 1 }
""" % up.address) as lbd:
                url = "http://127.0.0.1:%d" % lbd.port
                # Three streams on one connection: one runs, two wait, all succeed in turn.
                started = time.time()
                p = subprocess.run([tool("nghttp"), "-n", "-s"] +
                                   [url + "/q/%d" % i for i in range(3)],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(len(re.findall(rb"\s200\s", p.stdout)), 3, p.stdout)
                self.assertGreater(time.time() - started, 0.85)
                self.assertEqual(active[1], 1)
                # A fourth beyond the queue's size of 2 is refused at once.
                p = subprocess.run([tool("nghttp"), "-n", "-s"] +
                                   [url + "/q/%d" % i for i in range(4)],
                                   capture_output=True, timeout=30)
                self.assertEqual(len(re.findall(rb"\s200\s", p.stdout)), 3, p.stdout)
                self.assertEqual(len(re.findall(rb"\s503\s", p.stdout)), 1, p.stdout)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()


class ReloadTest(LbdTestCase):
    def test_stream_on_a_removed_backend_is_reset_after_the_grace(self):
        keep = HttpUpstream("keep")
        silent = HttpUpstream("silent", lambda req: b"")  # never answers
        text = """
reload_grace: 1s
workers: 1
listeners:
  - name: h2
    address: 127.0.0.1:0
    backend: keep
    http2: { h2c: true }
    routes:
      - name: to-gone
        match: { path_prefix: /gone }
        backend: gone
backends:
  - name: keep
    servers: [%s]
  - name: gone
    servers: [%s]
""" % (keep.address, silent.address)
        try:
            with Lbd(["--config", "{config}"], text) as lbd:
                c = Conn(lbd.port)
                c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block(b"/gone/wait")))
                deadline = time.time() + 5
                while not silent.requests and time.time() < deadline:
                    time.sleep(0.02)
                self.assertTrue(silent.requests)
                cut = text[:text.index("    routes:")] + text[text.index("backends:"):]
                cut = cut[:cut.index("  - name: gone")]
                with open(lbd.config_path, "w") as f:
                    f.write(cut)
                start = time.time()
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("(generation 2)")
                while time.time() < start + 5:
                    with c.lock:
                        resets = [f for f in c.frames if f[0] == RST_STREAM and f[2] == 1]
                    if resets:
                        break
                    time.sleep(0.02)
                waited = time.time() - start
                self.assertTrue(resets, c.frames)
                self.assertEqual(struct.unpack(">I", resets[0][3])[0], 8)  # CANCEL
                self.assertGreater(waited, 0.8)
                self.assertIn("resetting an HTTP/2 stream whose backend gone a reload removed",
                              lbd.log())
                # The connection itself carries on under the new config.
                c.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, request_block(b"/after")))
                deadline = time.time() + 5
                while time.time() < deadline:
                    with c.lock:
                        if any(f[0] == HEADERS and f[2] == 3 for f in c.frames):
                            break
                    time.sleep(0.02)
                self.assertTrue(any(r.target == b"/after" for _, r in keep.requests))
                c.close()
                self.assertEqual(lbd.stop(), 0)
        finally:
            keep.close()
            silent.close()


class QuickModeTest(LbdTestCase):
    def test_proxy_h2c_flag(self):
        up = HttpUpstream("quick")
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address, "--workers", "1",
                      "--h2c"]) as lbd:
                p = subprocess.run([tool("curl"), "-sS", "--http2-prior-knowledge", "-w",
                                    " %{http_version}", "http://127.0.0.1:%d/q" % lbd.port],
                                   capture_output=True, timeout=20)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, b"quick /q 2")
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()


if __name__ == "__main__":
    lbdtest.main()
