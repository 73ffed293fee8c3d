"""HTTP/1.1 framing strictness of the proxy, over real sockets.

Every rejected request is checked three ways: the status lbd answers, that the upstream received
nothing at all (not a connection, not a byte), and that lbd closed the client connection after
the error. Bad upstream responses must turn into a 502 and never reach the client.

Where RFC 9112 leaves a choice, the expectation follows what HAProxy / NGINX do; each such case
says so.
"""
import socket
import time

from lbdtest import (HttpUpstream, Lbd, LbdTestCase, Reader, Upstream, assert_clean_exit,
                     connect, main, parse_request)

CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: up
    max_body: 1KiB
    max_header_size: 32KiB
    header_timeout: 3s
backends:
  - name: up
    response_timeout: 3s
    servers:
      - { name: s1, address: %s }
"""

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def req(fields=b"", body=b"", method=b"POST", target=b"/", version=b"HTTP/1.1", host=b"t"):
    """A request head with Host first, then `fields` (raw CRLF-terminated lines), then body."""
    line = b"%s %s %s\r\n" % (method, target, version)
    h = b"Host: %s\r\n" % host if host is not None else b""
    return line + h + fields + b"\r\n" + body


class FramingCase(LbdTestCase):
    """One upstream and one lbd (max_body 1KiB, max_header_size 32KiB) per test."""

    def setUp(self):
        self.up = HttpUpstream("up")
        self.lbd = Lbd(["--config", "{config}"], CONFIG % self.up.address)

    def tearDown(self):
        try:
            assert_clean_exit(self, self.lbd)
        finally:
            self.lbd.__exit__(None, None, None)
            self.up.close()

    def send(self, raw, pause=0.0, tail=b""):
        """Sends raw (and, after `pause`, tail) on a new connection: (response, reader)."""
        s = connect(self.lbd.port)
        r = Reader(s)
        try:
            try:
                s.sendall(raw)
                if tail:
                    time.sleep(pause)
                    s.sendall(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass  # lbd may answer and stop reading before all of a bad request is sent
            return r.read_response(), r
        except BaseException:
            s.close()
            raise

    def reject(self, raw, status, pause=0.0, tail=b""):
        """Asserts lbd answers `status`, closes, and the upstream saw nothing."""
        self._refused(raw, (status,), pause, tail, check_connection_close=True)

    def reject_any(self, raw, statuses=(400, 501)):
        """Like reject, for smuggling payloads where any refusal status is correct."""
        self._refused(raw, statuses, 0.0, b"", check_connection_close=False)

    def _refused(self, raw, statuses, pause, tail, check_connection_close):
        with self.subTest(raw=raw[:120]):
            before = (self.up.connections, self.up.all_received())
            r = None
            try:
                try:
                    resp, r = self.send(raw, pause, tail)
                except (EOFError, ConnectionResetError, socket.timeout) as e:
                    self.fail("no %s answer to %r: %r" % (statuses, raw[:200], e))
                self.assertIn(resp.status, statuses,
                              "sent %r, got %r" % (raw[:200], resp.raw[:300]))
                if check_connection_close:
                    self.assertEqual(resp.header("connection"), b"close", resp.raw)
                self.assertTrue(r.closed(), "connection still open after %d" % resp.status)
            finally:
                if r is not None:
                    r.sock.close()
            time.sleep(0.02)
            self.assertEqual((self.up.connections, self.up.all_received()), before,
                             "the upstream received something for %r" % raw[:200])

    def accept(self, raw, count=1):
        """Sends raw on one connection and reads `count` 200 responses; returns them."""
        with connect(self.lbd.port) as s:
            r = Reader(s)
            s.sendall(raw)
            out = [r.read_response() for _ in range(count)]
        for resp in out:
            self.assertEqual(resp.status, 200, resp.raw)
        return out


class ContentLengthAndTransferEncoding(FramingCase):
    def test_content_length_with_transfer_encoding(self):
        # RFC 9112 §6.3: a proxy MUST NOT forward such a message; we refuse it (as HAProxy does
        # for requests since 2.5 and NGINX does since 1.23: 400).
        self.reject(req(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                        b"0\r\n\r\n"), 400)
        self.reject(req(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                        b"0\r\n\r\n"), 400)
        self.reject(req(b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                        b"0\r\n\r\n"), 400)

    def test_two_differing_content_lengths(self):
        self.reject(req(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400)
        self.reject(req(b"Content-Length: 5, 6\r\n", b"hello!"), 400)
        self.reject(req(b"Content-Length: 0\r\nContent-Length: 20\r\n", b"x" * 20), 400)

    def test_malformed_content_length(self):
        for value in (b"abc", b"-1", b"1 2", b"", b"+5", b"0x5", b"5.0", b"5,", b"1e3",
                      b"99999999999999999999999"):
            self.reject(req(b"Content-Length: %s\r\n" % value, b"hello"), 400)

    def test_transfer_encoding_other_than_final_chunked(self):
        # RFC 9112 §6.3: chunked not final in a request -> 400 and close.
        self.reject(req(b"Transfer-Encoding: gzip\r\n", b"0\r\n\r\n"), 400)
        self.reject(req(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400)
        self.reject(req(b"Transfer-Encoding: identity\r\n", b"0\r\n\r\n"), 400)
        # chunked applied twice (RFC 9112 §7: a sender MUST NOT) — one list or two fields.
        self.reject(req(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400)
        self.reject(req(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                        b"0\r\n\r\n"), 400)
        # Not tokens: empty, quoted, parameters, trailing comma.
        for value in (b"", b'"chunked"', b"chunked;q=1", b"chunked,", b",chunked"):
            self.reject(req(b"Transfer-Encoding: %s\r\n" % value, b"0\r\n\r\n"), 400)

    def test_unknown_coding_before_chunked_is_not_implemented(self):
        # RFC 9112 §6.1: a coding the server does not understand -> 501 (NGINX: 501 as well).
        self.reject(req(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501)

    def test_transfer_encoding_on_http10(self):
        # RFC 9112 §6.1: TE in an HTTP/1.0 message means faulty framing.
        self.reject(req(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n",
                        version=b"HTTP/1.0"), 400)


class FieldSyntax(FramingCase):
    def test_obs_fold(self):
        self.reject(req(b"X-A: a\r\n b\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A: a\r\n\tb\r\n", method=b"GET"), 400)
        # A fold right after the request line.
        self.reject(b"GET / HTTP/1.1\r\n Host: t\r\n\r\n", 400)

    def test_whitespace_between_name_and_colon(self):
        self.reject(req(b"X-A : a\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A\t: a\r\n", method=b"GET"), 400)
        self.reject(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400)

    def test_bare_cr_and_bare_lf(self):
        self.reject(req(b"X-A: a\rb\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A: a\r\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A: a\nX-B: b\r\n", method=b"GET"), 400)
        self.reject(b"GET / HTTP/1.1\nHost: t\n\n", 400)
        self.reject(b"GET / HTTP/1.1\r\nHost: t\r\n\n", 400)

    def test_nul_in_field(self):
        self.reject(req(b"X-A: a\x00b\r\n", method=b"GET"), 400)
        self.reject(req(b"X-\x00A: a\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A: \x00\r\n", method=b"GET"), 400)

    def test_ctl_in_field(self):
        for c in (b"\x01", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x1f", b"\x7f"):
            self.reject(req(b"X-A: a" + c + b"b\r\n", method=b"GET"), 400)
        self.reject(req(b"X-A\x7f: a\r\n", method=b"GET"), 400)
        # Separators are not allowed in field names either.
        for name in (b"X(A)", b"X/A", b"X@A", b"X[A]", b'X"A', b"X{A}", b"X\xc3\xa9A"):
            self.reject(req(name + b": a\r\n", method=b"GET"), 400)

    def test_tab_and_obs_text_in_values_are_fine(self):
        resp, = self.accept(req(b"X-A: a\tb\xe9c\r\n", method=b"GET"))
        got = self.up.only_request()
        self.assertEqual(got.header("x-a"), b"a\tb\xe9c")


class RequestLine(FramingCase):
    def test_invalid_method_chars(self):
        for method in (b"G@T", b"GE(T", b"GET\t", b"G\x00T", b"G\xc3\x89T", b"GE{T}", b"[GET]",
                       b"G,T"):
            self.reject(req(method=method), 400)
        self.reject(b" / HTTP/1.1\r\nHost: t\r\n\r\n", 400)
        self.reject(b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400)

    def test_invalid_target(self):
        for target in (b"/a b", b"/a\x01b", b"/\x7f", b"/a\tb", b"/\x00", b"foo",
                       b"http://evil@good/"):
            self.reject(req(target=target, method=b"GET"), 400)
        # The asterisk form is only for OPTIONS; CONNECT needs host:port.
        self.reject(req(target=b"*", method=b"GET"), 400)
        self.reject(req(target=b"/", method=b"CONNECT"), 400)

    def test_invalid_version(self):
        self.reject(b"GET / HTTP/1.x\r\nHost: t\r\n\r\n", 400)
        self.reject(b"GET / http/1.1\r\nHost: t\r\n\r\n", 400)
        self.reject(b"GET / HTTP/1.1 \r\nHost: t\r\n\r\n", 400)
        self.reject(b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505)

    def test_request_line_too_long(self):
        self.reject(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)

    def test_long_but_allowed_request_line(self):
        target = b"/" + b"a" * 7000
        resp, = self.accept(req(target=target, method=b"GET"))
        self.assertEqual(self.up.only_request().target, target)


class HostField(FramingCase):
    def test_missing_host_on_http11(self):
        self.reject(req(method=b"GET", host=None), 400)

    def test_missing_host_on_http10_is_fine(self):
        resp, = self.accept(req(method=b"GET", host=None, version=b"HTTP/1.0"))

    def test_two_host_fields(self):
        self.reject(req(b"Host: other\r\n", method=b"GET"), 400)
        self.reject(req(b"Host: t\r\n", method=b"GET"), 400)  # even when identical

    def test_invalid_host_value(self):
        for host in (b"a b", b"a@b", b"a/b", b"a\\b"):
            self.reject(req(method=b"GET", host=host), 400)


class Limits(FramingCase):
    def test_header_section_too_large(self):
        self.reject(req(b"X-Big: " + b"a" * 40000 + b"\r\n", method=b"GET"), 431)
        fields = b"".join(b"X-F%d: %s\r\n" % (i, b"b" * 700) for i in range(50))
        self.reject(req(fields, method=b"GET"), 431)

    def test_header_section_too_large_sent_slowly(self):
        # The limit holds for a head that arrives in pieces (no unbounded buffering).
        self.reject(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000, 431,
                    pause=0.2, tail=b"a" * 20000 + b"\r\n\r\n")

    def test_head_just_under_the_limit_is_forwarded_whole(self):
        # 31 KiB of fields fit the configured 32 KiB limit; the rewritten head (plus the
        # forwarding fields) must still go out complete.
        value = b"v" * (31 * 1024)
        self.accept(req(b"X-Big: %s\r\n" % value, method=b"GET"))
        self.assertEqual(self.up.only_request().header("x-big"), value)

    def test_configured_max_header_size(self):
        small = CONFIG.replace("max_header_size: 32KiB", "max_header_size: 4KiB")
        with Lbd(["--config", "{config}"], small % self.up.address) as lbd:
            with connect(lbd.port) as s:
                r = Reader(s)
                s.sendall(req(b"X-A: %s\r\n" % (b"a" * 3500), method=b"GET"))
                self.assertEqual(r.read_response().status, 200)
            with connect(lbd.port) as s:
                r = Reader(s)
                s.sendall(req(b"X-A: %s\r\n" % (b"a" * 5000), method=b"GET"))
                resp = r.read_response()
                self.assertEqual(resp.status, 431, resp.raw)
                self.assertTrue(r.closed())
            assert_clean_exit(self, lbd)
        self.assertEqual(len(self.up.requests), 1)

    def test_too_many_fields(self):
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(100))  # + Host = 101
        self.reject(req(fields, method=b"GET"), 431)

    def test_hundred_fields_are_fine(self):
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(99))  # + Host = 100
        self.accept(req(fields, method=b"GET"))
        self.assertEqual(self.up.only_request().header("x-f98"), b"1")

    def test_content_length_over_max_body(self):
        # Answered from the head alone: the body is never waited for.
        self.reject(req(b"Content-Length: 1025\r\n"), 413)
        self.reject(req(b"Content-Length: 5000\r\n", b"x" * 5000), 413)

    def test_chunked_body_over_max_body(self):
        self.reject(req(b"Transfer-Encoding: chunked\r\n",
                        b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n"), 413)
        self.reject(req(b"Transfer-Encoding: chunked\r\n",
                        b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(5))
                        + b"0\r\n\r\n"), 413)

    def test_chunked_body_over_max_body_arriving_later(self):
        # The first chunk fits and may already be on its way upstream; the answer is still 413
        # and the upstream never sees a complete request.
        s = connect(self.lbd.port)
        r = Reader(s)
        s.sendall(req(b"Transfer-Encoding: chunked\r\n", b"200\r\n" + b"a" * 512 + b"\r\n"))
        time.sleep(0.3)
        try:
            s.sendall(b"400\r\n" + b"b" * 1024 + b"\r\n0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = r.read_response()
        self.assertEqual(resp.status, 413, resp.raw)
        self.assertTrue(r.closed())
        s.close()
        time.sleep(0.05)
        self.assertEqual(self.up.requests, [])
        self.assertNotIn(b"0\r\n\r\n", self.up.all_received())

    def test_body_at_max_body_is_fine(self):
        self.accept(req(b"Content-Length: 1024\r\n", b"z" * 1024))
        self.accept(req(b"Transfer-Encoding: chunked\r\n",
                        b"400\r\n" + b"z" * 1024 + b"\r\n0\r\n\r\n"))
        self.assertEqual([m.body for _, m in self.up.requests], [b"z" * 1024] * 2)


class ChunkedSyntax(FramingCase):
    CHUNKED = b"Transfer-Encoding: chunked\r\n"

    def test_bad_chunk_size(self):
        for body in (b"zz\r\nhello\r\n0\r\n\r\n", b"-1\r\nhello\r\n0\r\n\r\n",
                     b"0x5\r\nhello\r\n0\r\n\r\n", b" 5\r\nhello\r\n0\r\n\r\n",
                     b"\r\nhello\r\n0\r\n\r\n", b"5\nhello\r\n0\r\n\r\n",
                     b"+5\r\nhello\r\n0\r\n\r\n"):
            self.reject(req(self.CHUNKED, body), 400)

    def test_chunk_size_overflow(self):
        # 2^64 (17 hex digits) and a long run of zeros before the digits that matter.
        self.reject(req(self.CHUNKED, b"10000000000000000\r\nhello\r\n0\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"1" + b"0" * 20 + b"\r\nhello\r\n0\r\n\r\n"), 400)

    def test_chunk_size_beyond_int63(self):
        # 2^64-1 fits in 64 bits but no real body is that large, and a next hop parsing into a
        # signed 64-bit integer reads -1. NGINX (NGX_MAX_OFF_T_VALUE) and HAProxy refuse such
        # sizes; so must we, before anything goes upstream.
        self.reject(req(self.CHUNKED, b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"8000000000000000\r\nhello\r\n0\r\n\r\n"), 400)

    def test_chunk_extension_outside_grammar(self):
        for ext in (b";", b";=x", b"; a b", b';a="unterminated', b";a=b c", b";a=\x01",
                    b";a=", b";\x00", b";a=b;", b";a=\"x\"y"):
            self.reject(req(self.CHUNKED, b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"), 400)

    def test_chunk_data_not_followed_by_crlf(self):
        self.reject(req(self.CHUNKED, b"5\r\nhelloXX\r\n0\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"5\r\nhello\n0\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"3\r\nhello\r\n0\r\n\r\n"), 400)

    def test_bad_trailer(self):
        self.reject(req(self.CHUNKED, b"0\r\nX-T : 1\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"0\r\nX-T: a\x00b\r\n\r\n"), 400)
        self.reject(req(self.CHUNKED, b"0\r\nno-colon\r\n\r\n"), 400)

    def test_valid_chunked_forms_are_forwarded_byte_for_byte(self):
        bodies = [b"5;name=value\r\nhello\r\n0\r\n\r\n",
                  b"5 ; a=\"q\\\"x\" ; b\r\nhello\r\n0\r\n\r\n",
                  b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
                  b"00005\r\nhello\r\n000\r\n\r\n",
                  b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"]
        for body in bodies:
            self.accept(req(self.CHUNKED, body))
        got = [m.raw_body for _, m in self.up.requests]
        self.assertEqual(got, bodies)


class Smuggling(FramingCase):
    """Classic desync payloads: each must be refused outright (nothing upstream)."""

    SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"

    def test_cl_te(self):
        self.reject(req(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                        b"0\r\n\r\nG"), 400)
        body = b"0\r\n\r\n" + self.SMUGGLED
        self.reject(req(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body),
                        body), 400)

    def test_te_cl(self):
        chunk = self.SMUGGLED
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
        self.reject(req(b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", body), 400)

    def test_te_te_obfuscations(self):
        body = b"0\r\n\r\n" + self.SMUGGLED
        variants = [
            b"Transfer-Encoding: xchunked\r\n",
            b"Transfer-Encoding : chunked\r\n",
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
            b"Transfer-Encoding: x\r\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding:\tchunked\r\n",
            b"X: X\r\n Transfer-Encoding: chunked\r\n",
            b"X: X\nTransfer-Encoding: chunked\r\n",
            b"Transfer-Encoding\r\n : chunked\r\n",
            b"Transfer-Encoding: \x0bchunked\r\n",
            b"Transfer-Encoding: chunked\x0b\r\n",
            b"Transfer-Encoding: \"chunked\"\r\n",
            b"Transfer-Encoding: chunk\r\n",
            b"Transfer-Encoding: chunked, identity\r\n",
            b"Transfer-Encoding: identity, chunked\r\n",
            b"Transfer-Encoding: chu\x00nked\r\n",
            b"Transfer-Encoding\x00: chunked\r\n",
        ]
        for te in variants:
            # With a Content-Length (TE.TE aimed at a CL-reading hop) ...
            self.reject_any(req(b"Content-Length: %d\r\n" % len(body) + te, body))
            # ... and without (aimed at a hop that ignores the odd TE and sees no body).
            if te != b"Transfer-Encoding:\tchunked\r\n":
                self.reject_any(req(te, body))

    def test_cl_cl(self):
        body = self.SMUGGLED
        self.reject(req(b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(body), body), 400)
        self.reject(req(b"Content-Length: %d\r\nContent-Length : 0\r\n" % len(body), body), 400)
        self.reject(req(b"Content-Length: %d\r\nContent_Length: 0\r\n" % len(body)
                        + b"Content-Length: 0\r\n", body), 400)

    def test_lf_only_chunked_body(self):
        self.reject_any(req(b"Transfer-Encoding: chunked\r\n",
                            b"5\nhello\n0\n\n" + self.SMUGGLED))

    def test_smuggled_request_inside_content_length_body_stays_a_body(self):
        body = self.SMUGGLED
        self.accept(req(b"Content-Length: %d\r\n" % len(body), body, method=b"GET"))
        m = self.up.only_request()
        self.assertEqual((m.target, m.body), (b"/", body))

    def test_requests_after_a_chunked_body_are_separate_requests(self):
        # What follows the last chunk is the next request of the connection: lbd parses it
        # itself, so the upstream sees exactly as many requests as the client gets answers.
        raw = req(b"Transfer-Encoding: Chunked\r\n", b"0\r\n\r\n") + self.SMUGGLED
        out = self.accept(raw, count=2)
        self.assertEqual([r.body for r in out], [b"up /", b"up /smuggled"])
        got = [(m.method, m.target) for _, m in self.up.requests]
        self.assertEqual(got, [(b"POST", b"/"), (b"GET", b"/smuggled")])
        # The stream the upstream got parses into exactly those two requests, nothing more.
        stream, n = self.up.all_received(), 0
        while stream:
            parsed = parse_request(stream)
            self.assertIsNotNone(parsed, stream)
            stream = parsed[1]
            n += 1
        self.assertEqual(n, 2)


class UpstreamResponseStrictness(LbdTestCase):
    """A response lbd cannot frame is never relayed: the client gets 502 and none of its bytes."""

    def run_bad_response(self, answer):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(answer)
                return b""
            return buf
        up = Upstream("bad", respond=respond)
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address, "--workers", "1",
                      "--upstream-timeout", "2s"]) as lbd:
                with connect(lbd.port) as s:
                    s.sendall(GET)
                    r = Reader(s)
                    try:
                        resp = r.read_response()
                    except EOFError:
                        self.fail("connection closed without a 502 for upstream answer %r"
                                  % answer[:200])
                    self.assertEqual(resp.status, 502, "upstream sent %r, client got %r"
                                     % (answer[:200], resp.raw[:300]))
                    self.assertTrue(r.closed())
                    got = resp.raw + r.read_to_eof()
                assert_clean_exit(self, lbd)
                return got
        finally:
            up.close()

    def check(self, answer):
        with self.subTest(answer=answer[:100]):
            rest = self.run_bad_response(answer)
            self.assertNotIn(b"EVIL", rest)

    def test_content_length_with_transfer_encoding(self):
        self.check(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4\r\nEVIL\r\n0\r\n\r\n")

    def test_bad_content_length(self):
        for value in (b"abc", b"-1", b"1 2", b"", b"4, 5"):
            self.check(b"HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\nEVIL" % value)
        self.check(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nEVIL!")

    def test_transfer_encoding_not_final_chunked(self):
        # NGINX answers 502 ("upstream sent unknown Transfer-Encoding") here too.
        self.check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nEVIL")
        self.check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
                   b"4\r\nEVIL\r\n0\r\n\r\n")

    def test_garbage_status_line(self):
        for line in (b"EVIL\r\n\r\n", b"HTTX/1.1 200 OK\r\n", b"HTTP/1.1 2000 OK\r\n",
                     b"HTTP/1.1 OK\r\n", b"HTTP/1.1  200 OK\r\n", b"HTTP/1.1 099 EVIL\r\n",
                     b"HTTP/1.1 200 OK\nContent-Length: 4\n\nEVIL", b"HTTP/3.0 200 OK\r\n",
                     b"\x00\x01\x02EVIL"):
            self.check(line + b"Content-Length: 4\r\n\r\nEVIL")

    def test_bad_fields(self):
        self.check(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 4\r\n\r\nEVIL")
        self.check(b"HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 4\r\n\r\nEVIL")
        self.check(b"HTTP/1.1 200 OK\r\nX-A: a\x00\r\nContent-Length: 4\r\n\r\nEVIL")

    def test_head_too_large(self):
        self.check(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\nContent-Length: 4\r\n\r\n"
                   b"EVIL")

    def test_bad_chunked_body_before_anything_was_sent(self):
        # Head and broken body arrive together: nothing has reached the client yet, so it must
        # get a 502 (HAProxy does this), not a bare close and not the head of a doomed response.
        self.check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nEVIL\r\n0\r\n\r\n")
        self.check(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4\r\nEVILXX\r\n0\r\n\r\n")

    def test_bad_chunked_body_after_the_head_went_out(self):
        # Once the head is out, only cutting the connection is honest: the client sees the head
        # and the good chunk, no terminating chunk, then EOF; never the bad bytes.
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\nfine.\r\n")
                time.sleep(0.3)
                conn.sendall(b"zz\r\nEVIL\r\n0\r\n\r\n")
                return b""
            return buf
        up = Upstream("bad", respond=respond)
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--workers", "1"]) as lbd:
                s = connect(lbd.port)
                s.sendall(GET)
                got = Reader(s).read_to_eof()
                s.close()
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
                self.assertIn(b"fine.", got)
                self.assertNotIn(b"EVIL", got)
                self.assertFalse(got.endswith(b"0\r\n\r\n"), got)
                assert_clean_exit(self, lbd)
        finally:
            up.close()

    def test_truncated_content_length_body_is_cut_not_completed(self):
        def respond(conn, buf):
            if b"\r\n\r\n" in buf:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten..")
                return None  # close
            return buf
        up = Upstream("short", respond=respond)
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--workers", "1"]) as lbd:
                s = connect(lbd.port)
                s.sendall(GET)
                got = Reader(s).read_to_eof()
                s.close()
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
                self.assertTrue(got.endswith(b"\r\n\r\nonly-ten.."), got)
                assert_clean_exit(self, lbd)
        finally:
            up.close()


if __name__ == "__main__":
    main()
