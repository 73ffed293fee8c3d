#!/usr/bin/env python3
"""HTTP/1.1 clients to `protocol: h2` backends: each request goes out as a stream of a pooled
HTTP/2 connection (h2c, or h2 over TLS), the response comes back as HTTP/1.1.

The servers are nghttpd (h2c and TLS) and a small threaded HTTP/2 server built on python3-h2
(Debian package), which records what it receives (headers and exact body bytes) and can answer
with trailers, interim responses, resets and connections killed mid-response. Clients are curl
--http1.1 and raw sockets (lbdtest.Reader), so the framing on the wire is what is checked."""
import hashlib
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lbdtest import (Lbd, LbdTestCase, Reader, assert_clean_exit, connect,  # noqa: E402
                     free_port, main, rss_kib)
from test_upstream_tls import Pki  # noqa: E402


def _import_h2():
    """python3-h2 (Debian) is pure Python: a python3 that is not Debian's (pyenv, say) can still
    use it from Debian's dist-packages, appended last so that it shadows nothing."""
    try:
        import h2.config  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import h2.config  # noqa: F401
        import h2.connection  # noqa: F401
        import h2.events  # noqa: F401
        return sys.modules["h2"]
    except ImportError:  # the test profile of scripts/install-deps.sh installs it
        return None


h2 = _import_h2()

CURL = shutil.which("curl")
NGHTTPD = shutil.which("nghttpd")
MIB = 1024 * 1024
BLOB = os.urandom(MIB)

_PKI = None


def pki():
    global _PKI
    if _PKI is None:
        _PKI = Pki()
    return _PKI


def sha(data):
    return hashlib.sha256(data).hexdigest()


class H2Server:
    """A threaded HTTP/2 server (h2c, or TLS with ALPN h2) on an ephemeral loopback port.

    Answers by path: /size/N (N bytes, content-length), /nolen/N (N bytes, no length), /sha
    (sha256 of the request body), /grpc (data, then trailers), /head (content-length, no body),
    /204, /304, /continue (100 Continue first), /die-mid (head and some data, then the
    connection dies), /die-before (dies before any answer), /reset-before (RST_STREAM),
    /slow (a byte every 50 ms until reset). `requests` holds (headers dict, body) per stream,
    `resets` the stream ids the client reset, `connections` the accepted count."""

    def __init__(self, tls=None):
        self.tls = tls
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests = []
        self.resets = []
        self.connections = 0
        self.sent = 0  # response payload bytes handed to h2 (flow control allowing)
        self.errors = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def last(self):
        with self.lock:
            return self.requests[-1]

    def _accept_loop(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        sock = raw
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(raw, server_side=True)
            self._run(sock)
        except OSError:
            pass  # lbd closed the connection (shutdown, idle): nothing to report
        except Exception as e:  # noqa: BLE001 - reported through `errors`
            self.errors.append(repr(e))
        finally:
            sock.close()
            raw.close()

    def _run(self, sock):
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        streams = {}  # id -> {"headers", "body", "out": [items], "slow": next send time}
        while True:
            ready = select.select([sock], [], [], 0.02)[0]
            if ready or (self.tls is not None and sock.pending()):
                data = sock.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    action = self._event(conn, streams, ev)
                    if action == "die":
                        sock.sendall(conn.data_to_send())
                        time.sleep(0.1)
                        sock.close()
                        return
            now = time.time()
            for sid, st in list(streams.items()):
                if st.get("slow") and now >= st["slow"] and sid not in self.resets:
                    st["out"].append(("data", b"x"))
                    st["slow"] = now + 0.05
                self._flush(conn, sid, st)
                if st.get("done"):
                    del streams[sid]
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    def _event(self, conn, streams, ev):
        if isinstance(ev, h2.events.RequestReceived):
            headers = dict(ev.headers)
            streams[ev.stream_id] = {"headers": headers, "raw_headers": list(ev.headers),
                                     "body": bytearray(), "out": []}
            if headers.get(":path") == "/continue" and headers.get("expect") == "100-continue":
                conn.send_headers(ev.stream_id, [(":status", "100")])
        elif isinstance(ev, h2.events.DataReceived):
            streams[ev.stream_id]["body"] += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            return self._answer(conn, ev.stream_id, streams[ev.stream_id])
        elif isinstance(ev, h2.events.StreamReset):
            with self.lock:
                self.resets.append(ev.stream_id)
            streams.pop(ev.stream_id, None)
        return None

    def _answer(self, conn, sid, st):
        headers, body = st["headers"], bytes(st["body"])
        with self.lock:
            self.requests.append((headers, body, st["raw_headers"]))
        path = headers[":path"]
        method = headers[":method"]
        out = st["out"]

        def head(status, fields=(), end=False):
            conn.send_headers(sid, [(":status", str(status))] + list(fields), end_stream=end)

        if path.startswith("/size/"):
            n = int(path[6:])
            head(200, [("content-length", str(n)), ("x-path", path)], end=(n == 0))
            if n:
                out += [("data", BLOB[:n]), ("end", None)]
        elif path.startswith("/repeat/"):
            n = int(path[8:])
            head(200, [("content-length", str(n * MIB))])
            out += [("data", BLOB)] * n + [("end", None)]
        elif path.startswith("/nolen/"):
            n = int(path[7:])
            head(200, [("x-path", path)])
            out += [("data", BLOB[:n]), ("end", None)]
        elif path in ("/sha", "/continue"):
            digest = sha(body).encode()
            head(200, [("content-length", str(len(digest))), ("x-len", str(len(body)))])
            out += [("data", digest), ("end", None)]
        elif path == "/grpc":
            head(200, [("content-type", "application/grpc")])
            out += [("data", b"\x00\x00\x00\x00\x05hello"),
                    ("trailers", [("grpc-status", "0"), ("grpc-message", "ok")])]
        elif path == "/head":
            head(200, [("content-length", "1234")], end=True)
        elif path == "/204":
            head(204, end=True)
        elif path == "/304":
            head(304, [("etag", '"v1"')], end=True)
        elif path == "/die-mid":
            head(200, [("content-length", str(MIB))])
            conn.send_data(sid, BLOB[:1000])
            return "die"
        elif path == "/die-before":
            return "die"
        elif path == "/reset-before":
            conn.reset_stream(sid, error_code=2)
            st["done"] = True
        elif path == "/slow":
            head(200)
            st["slow"] = time.time()
        else:
            text = ("%s %s" % (method, path)).encode()
            if method == "HEAD":
                head(200, [("content-length", str(len(text)))], end=True)
            else:
                head(200, [("content-length", str(len(text)))])
                out += [("data", text), ("end", None)]
        if not out and not st.get("slow"):
            st["done"] = True
        return None

    def _flush(self, conn, sid, st):
        out = st["out"]
        while out:
            kind, value = out[0]
            if kind == "data":
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0:
                    return
                conn.send_data(sid, value[:window])
                with self.lock:
                    self.sent += min(window, len(value))
                if len(value) > window:
                    out[0] = ("data", value[window:])
                    continue
                out.pop(0)
            elif kind == "end":
                conn.end_stream(sid)
                out.pop(0)
                st["done"] = True
            elif kind == "trailers":
                conn.send_headers(sid, value, end_stream=True)
                out.pop(0)
                st["done"] = True


CONFIG = """
workers: 1
metrics: { address: 127.0.0.1:0 }
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
    access_log: { format: combined, path: %(log)s }
    routes:
      - { match: { path_prefix: /dead }, backend: dead }
backends:
  - name: app
    protocol: h2
    servers: [%(servers)s]
%(tls)s
  - name: dead
    protocol: h2
    connect_timeout: 1s
    servers: [127.0.0.1:%(dead)d]
"""


def lbd_for(test, servers, tls=""):
    tmp = tempfile.TemporaryDirectory(prefix="h1h2-")
    test.addCleanup(tmp.cleanup)
    log = os.path.join(tmp.name, "access.log")
    cfg = CONFIG % {"servers": ", ".join(servers), "tls": tls, "log": log, "dead": free_port()}
    lbd = Lbd(["--config", "{config}"], cfg)
    lbd.access_log = log
    return lbd


def curl(port, path, data=None, extra=()):
    if CURL is None:
        raise unittest.SkipTest("no curl")
    # No "Expect: 100-continue" from curl: it would wait a second for servers that do not
    # answer it (the interim path has its own test).
    args = [CURL, "-sS", "--http1.1", "-H", "Expect:", "-o", "-", "-D", "/dev/stderr"]
    args += list(extra)
    if data is not None:
        args += ["--data-binary", "@-"]
    p = subprocess.run(args + ["http://127.0.0.1:%d%s" % (port, path)], input=data,
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def read_access_log(lbd, count, timeout=5.0):
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        if os.path.exists(lbd.access_log):
            with open(lbd.access_log) as f:
                lines = f.read().splitlines()
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError("access log has %d lines, wanted %d: %r" % (len(lines), count, lines))


class NghttpdTest(LbdTestCase):
    """nghttpd as the server: h2c with prior knowledge, then h2 over TLS."""

    def setUp(self):
        if NGHTTPD is None or CURL is None:
            self.skipTest("no nghttpd or curl (Debian: nghttp2-server, curl)")
        self.docroot = tempfile.TemporaryDirectory(prefix="h1h2doc-")
        self.addCleanup(self.docroot.cleanup)
        self.files = {"empty": b"", "k1": BLOB[:1024], "m1": BLOB}
        for name, data in self.files.items():
            with open(os.path.join(self.docroot.name, name), "wb") as f:
                f.write(data)

    def nghttpd(self, tls):
        port = free_port()
        args = [NGHTTPD, "--echo-upload", "--trailer", "grpc-status: 0", "--address",
                "127.0.0.1", "-d", self.docroot.name, str(port)]
        if tls:
            args += [pki().server[1], pki().server[0]]
        else:
            args.insert(1, "--no-tls")
        srv = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop():
            srv.terminate()
            srv.wait(10)
        self.addCleanup(stop)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        return "127.0.0.1:%d" % port

    def check(self, lbd):
        for name, data in self.files.items():
            code, body, head = curl(lbd.port, "/" + name)
            self.assertEqual(code, 0, head)
            self.assertRegex(head, r"^HTTP/1\.1 200 ")
            self.assertRegex(head, r"(?i)\r\ncontent-length: %d\r\n" % len(data))
            self.assertEqual(sha(body), sha(data), name)
        # nghttpd echoes the upload: the exact bytes went up and came back.
        upload = os.urandom(MIB)
        code, body, head = curl(lbd.port, "/echo", data=upload)
        self.assertEqual(code, 0, head)
        self.assertEqual(sha(body), sha(upload))
        code, body, head = curl(lbd.port, "/echo", data=upload,
                                extra=["-H", "Transfer-Encoding: chunked"])
        self.assertEqual(code, 0, head)
        self.assertEqual(sha(body), sha(upload))

    def test_h2c(self):
        with lbd_for(self, [self.nghttpd(False)]) as lbd:
            self.check(lbd)
            # A client that takes trailers gets the body chunked, even where the server sent a
            # length, so that the --trailer of nghttpd reaches it.
            s = connect(lbd.port)
            s.sendall(b"GET /k1 HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
            r = Reader(s).read_response()
            s.close()
            self.assertEqual(r.status, 200)
            self.assertTrue(r.chunked)
            self.assertIsNone(r.header("content-length"))
            self.assertEqual(r.body, self.files["k1"])
            self.assertIn((b"grpc-status", b"0"), r.trailers)
            assert_clean_exit(self, lbd)

    def test_tls_verified_and_unverified(self):
        addr = self.nghttpd(True)
        for tls in ("    tls: { ca: %s, sni: up.test }" % pki().ca[0],
                    "    tls: { verify: false }"):
            with lbd_for(self, [addr], tls) as lbd:
                self.check(lbd)
                assert_clean_exit(self, lbd)


@unittest.skipIf(h2 is None, "python3-h2 not installed")
class H2ServerTest(LbdTestCase):
    """The recording python3-h2 server: what goes up, and every way an answer can come back."""

    def setUp(self):
        self.srv = H2Server()
        self.addCleanup(self.srv.close)
        self.lbd = lbd_for(self, [self.srv.address])
        self.addCleanup(self.lbd.__exit__)

    def tearDown(self):
        self.assertEqual(self.srv.errors, [])
        if self.lbd.proc.poll() is None:
            assert_clean_exit(self, self.lbd)

    def test_post_content_length_and_chunked_bodies_arrive_exactly(self):
        body = os.urandom(MIB)
        code, out, head = curl(self.lbd.port, "/sha", data=body)
        self.assertEqual(code, 0, head)
        self.assertEqual(out.decode(), sha(body))
        headers, seen, _ = self.srv.last()
        self.assertEqual(seen, body)
        self.assertEqual(headers.get("content-length"), str(MIB))
        # Chunked by hand, with chunk sizes that do not line up with anything.
        s = connect(self.lbd.port, timeout=30)
        s.sendall(b"POST /sha HTTP/1.1\r\nHost: h2.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        pos, step = 0, 1
        while pos < len(body):
            piece = body[pos:pos + step]
            s.sendall(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            pos += len(piece)
            step = step * 3 + 7 if step < 200000 else 1000
        s.sendall(b"0\r\n\r\n")
        r = Reader(s).read_response()
        s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.decode(), sha(body))
        headers, seen, _ = self.srv.last()
        self.assertEqual(seen, body)
        self.assertNotIn("transfer-encoding", headers)
        self.assertNotIn("content-length", headers)

    def test_request_head_conversion(self):
        s = connect(self.lbd.port)
        s.sendall(b"GET /plain?q=1 HTTP/1.1\r\nHost: app.example:8080\r\nConnection: keep-alive, "
                  b"X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: close\r\n"
                  b"TE: trailers, deflate\r\nX-Custom: yes\r\nCookie: a=1\r\n\r\n")
        r = Reader(s).read_response()
        s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"GET /plain?q=1")
        headers, _, raw = self.srv.last()
        self.assertEqual(headers[":authority"], "app.example:8080")
        self.assertEqual(headers[":scheme"], "http")
        self.assertEqual(headers[":path"], "/plain?q=1")
        self.assertEqual(headers["te"], "trailers")
        self.assertEqual(headers["x-custom"], "yes")
        self.assertEqual(headers["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(headers["x-forwarded-proto"], "http")
        for gone in ("host", "connection", "keep-alive", "proxy-connection", "x-hop",
                     "transfer-encoding", "upgrade"):
            self.assertNotIn(gone, headers)

    def test_keep_alive_five_requests_on_one_connection(self):
        s = connect(self.lbd.port)
        r = Reader(s)
        paths = [b"/size/0", b"/size/1024", b"/nolen/3000", b"/grpc", b"/size/%d" % MIB]
        for p in paths:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % p)
            m = r.read_response()
            self.assertEqual(m.status, 200, p)
            self.assertIsNone(m.header("connection"))
            if p.startswith(b"/size/") or p.startswith(b"/nolen/"):
                n = int(p.split(b"/")[2])
                self.assertEqual(sha(m.body), sha(BLOB[:n]), p)
        # A sixth on the same connection, then it is still open for more.
        s.sendall(b"POST /sha HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        m = r.read_response()
        self.assertEqual(m.body.decode(), sha(b"abc"))
        s.close()
        self.assertEqual(self.srv.connections, 1)  # one pooled h2 connection for them all
        lines = read_access_log(self.lbd, 6)
        self.assertRegex(lines[1], r'"GET /size/1024 HTTP/1\.1" 200 1024 ')
        self.assertRegex(lines[2], r'"GET /nolen/3000 HTTP/1\.1" 200 \d+ ')

    def test_framing_without_length_trailers_and_http10(self):
        # No content-length from the server: chunked to an HTTP/1.1 client.
        s = connect(self.lbd.port)
        r = Reader(s)
        s.sendall(b"GET /nolen/100000 HTTP/1.1\r\nHost: t\r\n\r\n")
        m = r.read_response()
        self.assertTrue(m.chunked)
        self.assertEqual(m.body, BLOB[:100000])
        # gRPC-style trailers become chunked trailers.
        s.sendall(b"POST /grpc HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n"
                  b"Content-Type: application/grpc\r\nContent-Length: 0\r\n\r\n")
        m = r.read_response()
        self.assertEqual(m.status, 200)
        self.assertTrue(m.chunked)
        self.assertEqual(m.body, b"\x00\x00\x00\x00\x05hello")
        self.assertEqual(m.trailers, [(b"grpc-status", b"0"), (b"grpc-message", b"ok")])
        self.assertEqual(self.srv.last()[0]["te"], "trailers")
        s.close()
        # An HTTP/1.0 client gets the body delimited by the close instead.
        s = connect(self.lbd.port)
        s.sendall(b"GET /nolen/5000 HTTP/1.0\r\nHost: t\r\n\r\n")
        r = Reader(s)
        m = r.read_response()
        s.close()
        self.assertFalse(m.chunked)
        self.assertIsNone(m.header("transfer-encoding"))
        self.assertEqual(m.body, BLOB[:5000])

    def test_head_204_304_have_no_body(self):
        s = connect(self.lbd.port)
        r = Reader(s)
        s.sendall(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n")
        m = r.read_response(method=b"HEAD")
        self.assertEqual(m.status, 200)
        self.assertEqual(m.header("content-length"), b"1234")
        for status in (204, 304):
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % status)
            m = r.read_response()
            self.assertEqual(m.status, status)
            self.assertIsNone(m.header("transfer-encoding"))
            self.assertIsNone(m.header("content-length"))
        # Nothing stray came after those heads: the next answer parses cleanly.
        s.sendall(b"GET /size/10 HTTP/1.1\r\nHost: t\r\n\r\n")
        m = r.read_response()
        self.assertEqual(m.body, BLOB[:10])
        s.close()
        lines = read_access_log(self.lbd, 4)
        self.assertRegex(lines[0], r'^127\.0\.0\.1 .*"HEAD /head HTTP/1\.1" 200 0 ')
        self.assertRegex(lines[1], r'"GET /204 HTTP/1\.1" 204 0 ')
        self.assertRegex(lines[2], r'"GET /304 HTTP/1\.1" 304 0 ')

    def test_expect_100_continue_is_relayed(self):
        s = connect(self.lbd.port)
        s.sendall(b"POST /continue HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 5\r\n\r\n")
        r = Reader(s)
        interim = r.read_until(b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 "), interim)
        s.sendall(b"hello")
        m = r.read_response()
        s.close()
        self.assertEqual(m.status, 200)
        self.assertEqual(m.body.decode(), sha(b"hello"))

    def test_server_dying_before_and_after_the_head(self):
        # Before the head: a 502 the client can read, and the next request works.
        for path in (b"/die-before", b"/reset-before"):
            s = connect(self.lbd.port)
            r = Reader(s)
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            m = r.read_response()
            s.close()
            self.assertEqual(m.status, 502, path)
        self.lbd.wait_log("over HTTP/2: server")
        # After the head: the client connection closes with the body cut short.
        s = connect(self.lbd.port)
        s.sendall(b"GET /die-mid HTTP/1.1\r\nHost: t\r\n\r\n")
        r = Reader(s)
        head = r.read_until(b"\r\n\r\n")
        self.assertIn(b"content-length: %d" % MIB, head.lower())
        rest = r.read_to_eof()
        s.close()
        self.assertLess(len(rest), MIB)
        code, body, _ = curl(self.lbd.port, "/size/100")
        self.assertEqual(body, BLOB[:100])
        # A server that refuses the connection: 502 after the connect attempt.
        code, body, head = curl(self.lbd.port, "/dead")
        self.assertRegex(head, r"^HTTP/1\.1 502 ")

    def test_a_client_that_does_not_read_holds_the_server_back(self):
        # A small receive window on the client: the socket buffers hold little, so what the
        # server gets to send is what lbd holds (one stream window) plus lbd's send buffer.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.settimeout(30)
        s.connect(("127.0.0.1", self.lbd.port))
        before = rss_kib(self.lbd.proc.pid)
        s.sendall(b"GET /repeat/32 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1.5)
        with self.srv.lock:
            sent = self.srv.sent
        grown = rss_kib(self.lbd.proc.pid) - before
        print("\n  server sent %d KiB of 32768 KiB, lbd RSS grew %d KiB" % (sent // 1024, grown),
              file=sys.stderr)
        self.assertLess(sent, 12 * MIB)
        self.assertLess(grown, 8 * 1024)
        m = Reader(s).read_response()
        s.close()
        self.assertEqual(len(m.body), 32 * MIB)
        self.assertEqual(sha(m.body), sha(BLOB * 32))

    def test_metrics_count_like_http1(self):
        def scrape():
            self.lbd.wait_log("metrics on")
            port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                                 self.lbd.log()).group(1))
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                          timeout=5).read().decode()

            def total(name, *labels):
                return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith(name + "{") and all(lb in line for lb in labels))
            return (total("fulcrum_http_responses_total", 'code_class="2xx"'),
                    total("fulcrum_http_responses_total", 'code_class="5xx"'),
                    total("fulcrum_server_responses_total", 'backend="app"', 'code_class="2xx"'),
                    total("fulcrum_server_received_bytes_total", 'backend="app"'))
        before = scrape()
        for path in ("/size/1024", "/size/2048", "/nolen/10", "/reset-before"):
            curl(self.lbd.port, path)
        after = scrape()
        self.assertEqual(after[0] - before[0], 3)
        self.assertEqual(after[1] - before[1], 1)
        self.assertEqual(after[2] - before[2], 3)
        self.assertGreater(after[3] - before[3], 1024 + 2048)

    def test_client_going_away_cancels_the_stream(self):
        s = connect(self.lbd.port)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        Reader(s).read_until(b"\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        deadline = time.time() + 5
        while time.time() < deadline and not self.srv.resets:
            time.sleep(0.05)
        self.assertEqual(len(self.srv.resets), 1)

    def test_websocket_upgrade_is_refused_and_h2c_offer_ignored(self):
        s = connect(self.lbd.port)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        m = Reader(s).read_response()
        s.close()
        self.assertEqual(m.status, 502)
        self.lbd.wait_log("protocol upgrade (WebSocket) to an HTTP/2 backend is not supported")
        self.assertEqual(self.srv.requests, [])
        s = connect(self.lbd.port)
        s.sendall(b"GET /h2c HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                  b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        m = Reader(s).read_response()
        s.close()
        self.assertEqual(m.status, 200)
        self.assertEqual(m.body, b"GET /h2c")
        self.assertNotIn("http2-settings", self.srv.last()[0])


@unittest.skipIf(h2 is None, "python3-h2 not installed")
class H2ServerTlsTest(LbdTestCase):
    def test_tls_post_get_and_trailers(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki().server[0], pki().server[1])
        ctx.set_alpn_protocols(["h2"])
        srv = H2Server(tls=ctx)
        self.addCleanup(srv.close)
        tls = "    tls: { ca: %s, sni: up.test }" % pki().ca[0]
        with lbd_for(self, [srv.address], tls) as lbd:
            body = os.urandom(MIB)
            code, out, head = curl(lbd.port, "/sha", data=body)
            self.assertEqual(out.decode(), sha(body), head)
            self.assertEqual(srv.last()[1], body)
            self.assertEqual(srv.last()[0][":scheme"], "https")
            s = connect(lbd.port)
            r = Reader(s)
            s.sendall(b"GET /size/%d HTTP/1.1\r\nHost: t\r\n\r\nGET /grpc HTTP/1.1\r\nHost: t\r\n"
                      b"TE: trailers\r\n\r\n" % MIB)
            m = r.read_response()
            self.assertEqual(sha(m.body), sha(BLOB))
            m = r.read_response()
            self.assertEqual(m.trailers, [(b"grpc-status", b"0"), (b"grpc-message", b"ok")])
            s.close()
            self.assertEqual(srv.errors, [])
            assert_clean_exit(self, lbd)


if __name__ == "__main__":
    main()
