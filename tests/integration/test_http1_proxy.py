"""HTTP/1.1 proxy behaviour over real sockets: persistence, pipelining, bodies, field rewriting,
upgrades, timeouts, upstream failures, large streamed transfers and flat memory.

Where RFC 9110/9112 leave a choice, the expectation follows what HAProxy / NGINX do; each such
case says so.
"""
import hashlib
import os
import socket
import threading
import time

from lbdtest import (HttpUpstream, Lbd, LbdTestCase, Reader, TcpServer, Upstream,
                     assert_clean_exit, connect, free_port, main, rss_kib)


def quick(up_address, *extra):
    return Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up_address, "--workers", "1"]
               + list(extra))


CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: up
    header_timeout: %(header_timeout)s
backends:
  - name: up
    response_timeout: %(response_timeout)s
    servers:
      - { name: s1, address: %(address)s }
"""


def configured(up_address, header_timeout="5s", response_timeout="5s"):
    return Lbd(["--config", "{config}"], CONFIG % {"address": up_address,
                                                   "header_timeout": header_timeout,
                                                   "response_timeout": response_timeout})


def get(target=b"/", fields=b"", host=b"t", method=b"GET", version=b"HTTP/1.1", body=b""):
    line = b"%s %s %s\r\n" % (method, target, version)
    return line + (b"Host: %s\r\n" % host if host else b"") + fields + b"\r\n" + body


class ProxyCase(LbdTestCase):
    """Starts what a test asks for and stops it all, checking lbd exits cleanly."""

    def setUp(self):
        self.to_close = []
        self.lbd = None

    def tearDown(self):
        # Clients and upstreams go first, as they would in real life; then lbd must stop
        # cleanly (exit 0, no sanitizer report).
        for c in self.to_close:
            c.close()
        if self.lbd is not None:
            try:
                assert_clean_exit(self, self.lbd)
            finally:
                self.lbd.__exit__(None, None, None)

    def upstream(self, handler=None, name="up"):
        up = HttpUpstream(name, handler)
        self.to_close.append(up)
        return up

    def start(self, lbd):
        self.lbd = lbd
        return lbd

    def client(self, timeout=5.0):
        s = connect(self.lbd.port, timeout)
        self.to_close.append(s)
        return s, Reader(s)


class Persistence(ProxyCase):
    def test_keep_alive_reuses_client_and_upstream_connections(self):
        up = self.upstream()
        self.start(quick(up.address))
        for c in range(3):
            s, r = self.client()
            for i in range(3):
                target = b"/c%d/r%d" % (c, i)
                s.sendall(get(target))
                resp = r.read_response()
                self.assertEqual((resp.status, resp.body), (200, b"up " + target))
                self.assertNotEqual(resp.header("connection"), b"close")
            s.close()
        self.assertEqual(len(up.requests), 9)
        # Sequential requests, even from different client connections, share one pooled
        # upstream connection.
        self.assertEqual(up.connections, 1)
        self.assertEqual({idx for idx, _ in up.requests}, {0})

    def test_pipelined_requests_answered_in_order(self):
        def handler(req):
            if req.target == b"/slow":
                time.sleep(0.2)
            body = b"answer " + req.target + b" " + req.body
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        raw = (get(b"/slow") + get(b"/a") + get(b"/post", b"Content-Length: 4\r\n",
                                                method=b"POST", body=b"data")
               + get(b"/chunked", b"Transfer-Encoding: chunked\r\n", method=b"POST",
                     body=b"3\r\nabc\r\n0\r\n\r\n")
               + get(b"/last"))
        s.sendall(raw)
        bodies = [r.read_response().body for _ in range(5)]
        self.assertEqual(bodies, [b"answer /slow ", b"answer /a ", b"answer /post data",
                                  b"answer /chunked abc", b"answer /last "])
        self.assertEqual([m.target for _, m in up.requests],
                         [b"/slow", b"/a", b"/post", b"/chunked", b"/last"])

    def test_head_204_304_have_no_body(self):
        def handler(req):
            if req.method == b"HEAD":
                return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-K: head\r\n\r\n"
            if req.target == b"/204":
                return b"HTTP/1.1 204 No Content\r\nX-K: 204\r\n\r\n"
            if req.target == b"/304":
                return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"e\"\r\n\r\n"
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter"
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/h", method=b"HEAD"))
        resp = r.read_response(method=b"HEAD")
        self.assertEqual((resp.status, resp.header("content-length")), (200, b"1234"))
        s.sendall(get(b"/204"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.header("x-k")), (204, b"204"))
        s.sendall(get(b"/304"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.header("etag")), (304, b'"e"'))
        # Nothing stray sits between the answers: the next response parses cleanly right away.
        s.sendall(get(b"/after"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"after"))
        self.assertEqual(r.buf, b"")
        self.assertEqual(up.connections, 1)

    def test_extra_upstream_bytes_never_answer_the_next_request(self):
        # An upstream that answers one request twice must not get its second answer delivered
        # to the next request (response desync): that connection is not reused.
        def handler(req):
            ok = up.ok_handler(req)
            if req.target == b"/1":
                return ok + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEXTRA"
            return ok
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/1"))
        self.assertEqual(r.read_response().body, b"up /1")
        for target in (b"/2", b"/3"):
            s.sendall(get(target))
            self.assertEqual(r.read_response().body, b"up " + target)
        self.assertEqual(r.buf, b"")

    def test_head_with_chunked_framing_has_no_body(self):
        def handler(req):
            if req.method == b"HEAD":
                return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            return up.ok_handler(req)
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/h", method=b"HEAD"))
        resp = r.read_response(method=b"HEAD")
        self.assertEqual((resp.status, resp.header("transfer-encoding")), (200, b"chunked"))
        s.sendall(get(b"/next"))
        self.assertEqual(r.read_response().body, b"up /next")

    def test_close_delimited_response_is_forwarded_then_closed(self):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-K: v\r\n\r\npart one, ")
                time.sleep(0.1)
                conn.sendall(b"part two")
                return None  # the close ends the body
            return buf
        up = Upstream("eof", respond=respond)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/"))
        resp = r.read_response()  # no CL, no TE: reads to EOF
        self.assertEqual((resp.status, resp.body), (200, b"part one, part two"))
        self.assertEqual(resp.header("connection"), b"close")
        self.assertIsNone(resp.header("content-length"))
        self.assertTrue(r.eof)

    def test_http10_client_is_closed_after_the_response(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"up /old"))
        self.assertTrue(r.closed())
        m = up.only_request()
        self.assertTrue(m.start.endswith(b"HTTP/1.1"), m.start)
        self.assertIn(b"1.0 fulcrum", b", ".join(m.all("via")))

    def test_http10_client_with_keep_alive_stays_open(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        for target in (b"/one", b"/two"):
            s.sendall(get(target, b"Connection: keep-alive\r\n", version=b"HTTP/1.0"))
            resp = r.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"up " + target))
            self.assertEqual(resp.header("connection").lower(), b"keep-alive")
        self.assertFalse(r.closed(timeout=0.3))

    def test_http10_client_never_gets_chunked(self):
        # RFC 9112 §6.1: no Transfer-Encoding in a response to an HTTP/1.0 request. NGINX
        # de-chunks and delimits by close; the client must get the plain payload either way.
        def handler(req):
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw = r.read_to_eof()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200"), raw)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertNotIn(b"transfer-encoding", head.lower(), raw)
        self.assertEqual(body, b"hello world", raw)


class ExpectContinue(ProxyCase):
    def test_100_continue_then_final(self):
        heads = []

        def handler(conn, idx):
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            head, body = buf.split(b"\r\n\r\n", 1)
            heads.append(head)
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while len(body) < 5:
                data = conn.recv(65536)
                if not data:
                    return
                body += data
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        up = TcpServer(handler)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client(timeout=3)
        s.sendall(get(b"/up", b"Expect: 100-continue\r\nContent-Length: 5\r\n", method=b"PUT"))
        interim = r.read_response(skip_interim=False)  # the body is held back until then
        self.assertEqual(interim.status, 100, interim.raw)
        s.sendall(b"hello")
        final = r.read_response()
        self.assertEqual((final.status, final.body), (200, b"hello"))
        self.assertEqual(up.errors, [])

    def test_final_answer_instead_of_100_closes_the_connection(self):
        # The upstream refuses without reading the body: the unsent body would be read as the
        # next request, so lbd closes after the answer (what NGINX and HAProxy do).
        def handler(req):
            return b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope"

        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(handler(None))
                return b""
            return buf
        up = Upstream("deny", respond=respond)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client(timeout=3)
        s.sendall(get(b"/up", b"Expect: 100-continue\r\nContent-Length: 5\r\n", method=b"PUT"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body, resp.interim), (401, b"nope", []))
        self.assertEqual(resp.header("connection"), b"close")
        self.assertTrue(r.closed())


class Targets(ProxyCase):
    def test_absolute_form_target(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"http://t.example/p?q=1", host=b"t.example"))
        resp = r.read_response()
        self.assertEqual(resp.status, 200, resp.raw)
        m = up.only_request()
        # NGINX sends origin-form to the upstream, HAProxy keeps the absolute form: both fine.
        self.assertIn(m.target, (b"/p?q=1", b"http://t.example/p?q=1"))
        self.assertEqual(m.all("host"), [b"t.example"])

    def test_absolute_form_authority_wins_over_host(self):
        # RFC 9112 §3.2.2: a proxy MUST ignore the received Host and replace it with the
        # request-target's authority; otherwise lbd (routing, X-Forwarded-Host) and the server
        # disagree on the host.
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"http://a.example/p", host=b"b.example"))
        resp = r.read_response()
        self.assertEqual(resp.status, 200, resp.raw)
        m = up.only_request()
        self.assertEqual(m.all("host"), [b"a.example"], m.raw)
        self.assertEqual(m.all("x-forwarded-host"), [b"a.example"], m.raw)

    def test_options_asterisk(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"*", method=b"OPTIONS"))
        self.assertEqual(r.read_response().status, 200)
        self.assertEqual(up.only_request().start, b"OPTIONS * HTTP/1.1")


class Bodies(ProxyCase):
    def test_chunked_request_and_response_forwarded_intact(self):
        resp_pieces = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-K: v\r\n\r\n",
                       b"4;n=1\r\nabcd\r\n", b"a\r\n0123456789\r\n",
                       b"0\r\nX-Trailer: t\r\n\r\n"]
        up = self.upstream(lambda req: list(resp_pieces))
        self.start(quick(up.address))
        s, r = self.client()
        body_pieces = [b"5;x=y\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\nX-Sum: 11\r\n\r\n"]
        s.sendall(get(b"/chunky", b"Transfer-Encoding: chunked\r\n", method=b"POST"))
        for piece in body_pieces:
            time.sleep(0.05)
            s.sendall(piece)
        resp = r.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.raw_body, b"".join(resp_pieces[1:]))
        self.assertEqual(resp.body, b"abcd0123456789")
        self.assertEqual(resp.trailers, [(b"X-Trailer", b"t")])
        m = up.only_request()
        self.assertEqual(m.header("transfer-encoding"), b"chunked")
        self.assertIsNone(m.header("content-length"))
        self.assertEqual(m.raw_body, b"".join(body_pieces))
        self.assertEqual(m.body, b"hello world")
        # The connection still works for the next exchange.
        s.sendall(get(b"/again"))
        self.assertEqual(r.read_response().status, 200)

    def test_large_body_upload_and_download(self):
        size = 50 << 20
        block = os.urandom(1 << 20)

        def expected_digest(n):
            h = hashlib.sha256()
            for _ in range(n >> 20):
                h.update(block)
            return h.hexdigest().encode()

        def handler(conn, idx):
            while True:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, rest = buf.split(b"\r\n\r\n", 1)
                if head.startswith(b"PUT"):
                    n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    h = hashlib.sha256(rest)
                    got = len(rest)
                    while got < n:
                        data = conn.recv(1 << 20)
                        if not data:
                            return
                        h.update(data)
                        got += len(data)
                    digest = h.hexdigest().encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(digest), digest))
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                    for _ in range(size >> 20):
                        conn.sendall(block)
        up = TcpServer(handler)
        self.to_close.append(up)
        self.start(quick(up.address))
        want = expected_digest(size)
        s, r = self.client(timeout=30)
        # Upload: sent while lbd streams it on (it never holds 50 MiB).
        s.sendall(b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size >> 20):
            s.sendall(block)
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body), (200, want))
        # Download on the same connection.
        s.sendall(get(b"/big"))
        head = r.read_until(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % size, head)
        h = hashlib.sha256()
        got = len(r.buf)
        h.update(r.buf)
        r.buf = b""
        while got < size:
            data = s.recv(min(1 << 20, size - got))
            self.assertTrue(data, "download cut at %d bytes" % got)
            h.update(data)
            got += len(data)
        self.assertEqual(h.hexdigest().encode(), want)
        self.assertEqual(up.errors, [])

    def test_memory_stays_flat_during_200mib_transfer(self):
        size = 200 << 20
        block = os.urandom(1 << 20)

        def handler(conn, idx):
            while True:  # keep-alive: one request after the other (no pipelining)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, rest = buf.split(b"\r\n\r\n", 1)
                if head.startswith(b"PUT"):
                    n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    if n == size:
                        # A slow reader first: the upload must be held back, not buffered.
                        time.sleep(1.0)
                    got = len(rest)
                    while got < n:
                        data = conn.recv(min(1 << 20, n - got))
                        if not data:
                            return
                        got += len(data)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    continue
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(size >> 20):
                    conn.sendall(block)
        up = TcpServer(handler)
        self.to_close.append(up)
        lbd = self.start(quick(up.address))
        # Warm up (allocator, first buffers), then take the baseline.
        s, r = self.client(timeout=30)
        s.sendall(b"PUT /w HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (1 << 20))
        s.sendall(block)
        self.assertEqual(r.read_response().body, b"ok")
        s.close()
        time.sleep(0.2)
        base = rss_kib(lbd.proc.pid)
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kib(lbd.proc.pid))
                except (OSError, RuntimeError):
                    return
                time.sleep(0.01)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            # Download read by a client that stalls for a second first.
            s, r = self.client(timeout=30)
            s.sendall(get(b"/down"))
            time.sleep(1.0)
            head = r.read_until(b"\r\n\r\n")
            self.assertIn(b"Content-Length: %d" % size, head)
            got = len(r.buf)
            while got < size:
                data = s.recv(1 << 20)
                if not data:
                    break
                got += len(data)
            self.assertEqual(got, size)
            # Upload to an upstream that stalls for a second first.
            s, r = self.client(timeout=30)
            s.sendall(b"PUT /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
            for _ in range(size >> 20):
                s.sendall(block)
            self.assertEqual(r.read_response().body, b"ok")
        finally:
            done.set()
            sampler.join()
        # Growth is what matters: the Debug/ASan binary alone maps ~70 MiB of file-backed pages
        # at start, more with every library linked in, which says nothing about buffering.
        grown_mib = (peak[0] - base) / 1024
        self.assertLess(grown_mib, 16, "VmRSS grew by %.1f MiB (base %d KiB)" % (grown_mib, base))


class FieldRewriting(ProxyCase):
    def test_hop_by_hop_request_fields_removed(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/hop", b"Connection: keep-alive, X-Foo, x-bar\r\nX-Foo: 1\r\nX-Bar: 2\r\n"
                              b"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
                              b"Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
                              b"X-Keep: yes\r\n"))
        self.assertEqual(r.read_response().status, 200)
        m = up.only_request()
        names = m.names()
        for gone in (b"x-foo", b"x-bar", b"keep-alive", b"te", b"trailer", b"proxy-connection",
                     b"upgrade"):
            self.assertNotIn(gone, names, m.raw)
        for value in m.all("connection"):
            self.assertIn(value.lower(), (b"keep-alive", b"close"), m.raw)
        self.assertEqual(m.header("x-keep"), b"yes")

    def test_hop_by_hop_response_fields_removed(self):
        def handler(req):
            return (b"HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\n"
                    b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\n"
                    b"Upgrade: h2c\r\nX-Keep: yes\r\nContent-Length: 2\r\n\r\nok")
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"ok"))
        for gone in (b"x-secret", b"keep-alive", b"proxy-connection", b"trailer", b"upgrade"):
            self.assertNotIn(gone, resp.names(), resp.raw)
        for value in resp.all("connection"):
            self.assertIn(value.lower(), (b"keep-alive", b"close"), resp.raw)
        self.assertEqual(resp.header("x-keep"), b"yes")

    def test_connection_cannot_remove_framing_fields(self):
        # "Connection: content-length" must not strip Content-Length (the body would then be
        # read as the next request by the upstream).
        def handler(req):
            if req.target == b"/r":
                return (b"HTTP/1.1 200 OK\r\nConnection: content-length\r\n"
                        b"Content-Length: 3\r\n\r\nabc")
            body = b"got " + req.body
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        up = self.upstream(handler)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/cl", b"Connection: content-length\r\nContent-Length: 5\r\n",
                      method=b"POST", body=b"hello")
                  + get(b"/te", b"Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n",
                        method=b"POST", body=b"2\r\nhi\r\n0\r\n\r\n")
                  + get(b"/r"))
        self.assertEqual(r.read_response().body, b"got hello")
        self.assertEqual(r.read_response().body, b"got hi")
        resp = r.read_response()
        self.assertEqual((resp.header("content-length"), resp.body), (b"3", b"abc"))
        reqs = [m for _, m in up.requests]
        self.assertEqual([m.target for m in reqs], [b"/cl", b"/te", b"/r"])
        self.assertEqual(reqs[0].all("content-length"), [b"5"])
        self.assertEqual(reqs[1].all("transfer-encoding"), [b"chunked"])

    def test_forwarding_fields(self):
        up = self.upstream()
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/fwd", b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
                               b"X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\n"
                               b"Via: 1.1 other\r\nx-forwarded-for: 7.7.7.7\r\n",
                      host=b"t.example:8080"))
        self.assertEqual(r.read_response().status, 200)
        m = up.only_request()
        self.assertEqual(m.all("x-forwarded-for"), [b"127.0.0.1"], m.raw)
        self.assertEqual(m.all("x-forwarded-proto"), [b"http"], m.raw)
        self.assertEqual(m.all("x-forwarded-host"), [b"t.example:8080"], m.raw)
        self.assertEqual(m.all("forwarded"), [b'for=127.0.0.1;proto=http;host="t.example:8080"'],
                         m.raw)
        self.assertNotIn(b"6.6.6.6", m.raw)
        self.assertNotIn(b"7.7.7.7", m.raw)
        self.assertNotIn(b"evil", m.raw)
        # RFC 9110 §7.6.3: our Via entry comes after the ones already there.
        via = b", ".join(m.all("via"))
        self.assertRegex(via, rb"^1\.1 other, 1\.1 fulcrum")
        self.assertEqual(m.all("host"), [b"t.example:8080"])


class Upgrade(ProxyCase):
    def test_websocket_upgrade_tunnels_both_ways(self):
        heads = []

        def handler(conn, idx):
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(65536)
            head, rest = buf.split(b"\r\n\r\n", 1)
            heads.append(head)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\nhello-from-up;")
            if rest:
                conn.sendall(rest.upper())
            while True:
                data = conn.recv(65536)
                if not data:
                    conn.sendall(b"bye")
                    conn.shutdown(socket.SHUT_WR)
                    return
                conn.sendall(data.upper())
        up = TcpServer(handler)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client(timeout=3)
        s.sendall(get(b"/ws", b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              b"Sec-WebSocket-Version: 13\r\n"))
        resp = r.read_response()
        self.assertEqual(resp.status, 101, resp.raw)
        self.assertEqual(resp.header("upgrade"), b"websocket")
        self.assertEqual(resp.header("connection").lower(), b"upgrade")
        self.assertEqual(r.read_exact(len(b"hello-from-up;")), b"hello-from-up;")
        for msg in (b"ping", b"x" * 100000, b"\x00\x01binary\xff"):
            s.sendall(msg)
            self.assertEqual(r.read_exact(len(msg)), msg.upper())
        # A half-close travels through; the other direction still delivers, then all closes.
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(r.read_to_eof(), b"bye")
        head = heads[0].lower()
        self.assertIn(b"\r\nupgrade: websocket", head)
        self.assertIn(b"\r\nconnection: upgrade", head)
        self.assertIn(b"sec-websocket-key: dghlihnhbxbszsbub25jzq==", head)
        self.assertEqual(up.errors, [])

    def test_101_without_an_upgrade_request_is_refused(self):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\n"
                             b"Connection: upgrade\r\n\r\nEVIL")
                return b""
            return buf
        up = Upstream("u", respond=respond)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/"))
        resp = r.read_response()
        self.assertEqual(resp.status, 502)
        self.assertNotIn(b"EVIL", resp.raw + r.read_to_eof())


class Timeouts(ProxyCase):
    def test_header_timeout_408(self):
        up = self.upstream()
        self.start(quick(up.address, "--header-timeout", "500ms"))
        s, r = self.client()
        t0 = time.time()
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half: ")  # slowloris: half a head, then wait
        resp = r.read_response()
        elapsed = time.time() - t0
        self.assertEqual(resp.status, 408, resp.raw)
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 3.0)
        self.assertTrue(r.closed())
        self.assertEqual(up.connections, 0)

    def test_header_timeout_is_not_extended_by_trickling(self):
        up = self.upstream()
        self.start(quick(up.address, "--header-timeout", "500ms"))
        s, r = self.client()
        t0 = time.time()
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                try:
                    s.send(b"X-Drip: 1\r\n")
                except OSError:
                    return
                time.sleep(0.1)
        th = threading.Thread(target=trickle, daemon=True)
        th.start()
        try:
            resp = r.read_response()
        finally:
            stop.set()
            th.join()
        self.assertEqual(resp.status, 408, resp.raw)
        self.assertLess(time.time() - t0, 3.0)
        self.assertEqual(up.connections, 0)

    def test_upstream_response_timeout_504(self):
        up = Upstream("mute", respond=lambda conn, buf: buf)  # reads, never answers
        self.to_close.append(up)
        self.start(configured(up.address, response_timeout="500ms"))
        s, r = self.client()
        t0 = time.time()
        s.sendall(get(b"/"))
        resp = r.read_response()
        elapsed = time.time() - t0
        self.assertEqual(resp.status, 504, resp.raw)
        self.assertGreater(elapsed, 0.4)
        self.assertLess(elapsed, 3.0)
        self.assertTrue(r.closed())
        self.assertIn(b"GET / HTTP/1.1", up.all_received())


class UpstreamFailures(ProxyCase):
    def test_connect_refused_502(self):
        self.start(quick("127.0.0.1:%d" % free_port()))
        s, r = self.client()
        s.sendall(get(b"/"))
        resp = r.read_response()
        self.assertEqual(resp.status, 502, resp.raw)
        self.assertEqual(resp.header("connection"), b"close")
        self.assertTrue(r.closed())

    def test_pooled_connection_closed_while_idle_is_not_used(self):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                time.sleep(0.1)
                return None  # closes the kept-alive connection shortly after answering
            return buf
        up = Upstream("flaky", respond=respond)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client()
        for _ in range(3):
            s.sendall(get(b"/"))
            resp = r.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"ok"))
            time.sleep(0.4)
        self.assertEqual(up.connections, 3)

    def test_stale_pooled_connection_is_retried(self):
        # The first upstream connection answers one request, then closes when the second one
        # arrives (the race of a server timing out an idle connection just as it is reused):
        # the GET is retried on a fresh connection and the client never notices.
        up = self.upstream()

        def handler(req):
            idx = up.requests[-1][0]
            if idx == 0 and sum(1 for i, _ in up.requests if i == 0) == 2:
                return None
            return up.ok_handler(req)
        up.handler = handler
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/first"))
        self.assertEqual(r.read_response().body, b"up /first")
        time.sleep(0.1)
        s.sendall(get(b"/second"))
        resp = r.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"up /second"))
        self.assertEqual([(i, m.target) for i, m in up.requests],
                         [(0, b"/first"), (0, b"/second"), (1, b"/second")])

    def test_upstream_closing_mid_response_cuts_the_client(self):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
                return None
            return buf
        up = Upstream("cut", respond=respond)
        self.to_close.append(up)
        self.start(quick(up.address))
        s, r = self.client()
        s.sendall(get(b"/"))
        got = r.read_to_eof()
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
        self.assertTrue(got.endswith(b"partial"), got)


if __name__ == "__main__":
    main()
