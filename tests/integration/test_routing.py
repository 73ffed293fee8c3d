"""L7 routing end to end: a YAML config with routes, the real lbd binary, recording upstreams.

Every test checks both what the client got and what each upstream received (or that no upstream
received anything, for answers lbd makes itself). Requests carry a unique X-Test-Id so the
upstream that took a request can be found even though the upstreams are shared by the class.
"""
import itertools

from lbdtest import (HttpUpstream, Lbd, LbdTestCase, Reader, assert_clean_exit, connect, main)

UPSTREAMS = ("alpha", "beta", "gamma", "fallback")

CONFIG = """
workers: 1
log_level: info
listeners:
  - name: main
    address: 127.0.0.1:0
    backend: fallback
    routes:
      # host
      - name: host-exact
        match: { host: exact.test }
        backend: alpha
      - name: host-wildcard
        match: { host: "*.wild.test" }
        backend: beta
      - name: host-list
        match: { host: [one.test, Two.Test] }
        backend: gamma
      # path
      - name: path-exact
        match: { host: path.test, path: /exact }
        backend: alpha
      - name: path-prefix
        match: { host: path.test, path_prefix: /pre/ }
        backend: beta
      - name: path-regex
        match: { host: path.test, path_regex: "^/v[0-9]+/" }
        backend: gamma
      # method
      - name: method
        match: { host: method.test, method: [POST, PUT] }
        backend: alpha
      # header fields
      - name: header-equals
        match:
          host: header.test
          headers: [{ name: X-Canary, value: "1" }]
        backend: beta
      - name: header-regex
        match:
          host: header.test
          headers: [{ name: User-Agent, regex: "bot" }]
        backend: gamma
      - name: header-present
        match:
          host: header.test
          headers: [{ name: X-Flag }]
        backend: alpha
      # query and cookies
      - name: query
        match:
          host: query.test
          query: [{ name: v, value: "2" }]
        backend: alpha
      - name: query-present
        match:
          host: query.test
          query: [{ name: debug }]
        backend: beta
      - name: cookie
        match:
          host: cookie.test
          cookies: [{ name: beta, value: "yes" }]
        backend: alpha
      - name: cookie-regex
        match:
          host: cookie.test
          cookies: [{ name: ab, regex: "^b[0-9]$" }]
        backend: beta
      # client address: the first never matches from loopback, the second does
      - name: source-ten
        match: { host: source.test, source: 10.0.0.0/8 }
        backend: beta
      - name: source-loopback
        match: { host: source.test, source: [192.168.0.0/16, 127.0.0.0/8] }
        backend: alpha
      # first match wins, even when a later route is more specific
      - name: first-general
        match: { host: first.test, path_prefix: /a }
        backend: alpha
      - name: first-specific
        match: { host: first.test, path_prefix: /a/b }
        backend: beta
      # canary split
      - name: split
        match: { host: split.test }
        split:
          - { backend: alpha, weight: 90 }
          - { backend: beta, weight: 10 }
          - { backend: gamma, weight: 0 }
      # redirects
      - name: redirect-301
        match: { host: redirect.test, path_prefix: /moved }
        redirect: { to: "https://$host$request_uri", status: 301 }
      - name: redirect-308
        match: { host: redirect.test, path_prefix: /keep }
        redirect: { to: "https://new.test/p$path?from=$query", status: 308 }
      - name: redirect-default
        match: { host: redirect.test }
        redirect: { to: "$scheme://www.redirect.test$path" }
      # fixed responses
      - name: teapot
        match: { host: respond.test, path: /teapot }
        respond: { status: 418, body: "short and stout\\n", content_type: text/x-tea }
      - name: empty
        match: { host: respond.test, path: /empty }
        respond: { status: 204 }
      - name: robots
        match: { host: respond.test }
        respond: { body: "User-agent: *\\nDisallow: /\\n" }
      # header modifiers
      - name: header-ops
        match: { host: ops.test }
        backend: alpha
        request_headers:
          set: { X-Set: set-value, X-Replace: replaced }
          add: { X-Add: added }
          remove: [X-Remove, X-Remove-Too]
        response_headers:
          set: { X-Upstream: set-by-route }
          add: { X-Extra: one, Cache-Control: no-store }
          remove: [X-Secret]
      # rewrites
      - name: strip
        match: { host: rewrite.test, path_prefix: /api }
        backend: alpha
        rewrite: { strip_prefix: /api }
      - name: regex
        match: { host: rewrite.test, path_prefix: /old/ }
        backend: beta
        rewrite: { regex: "^/old/([^/]+)/(.*)", replace: "/new/\\\\2/\\\\1" }

  - name: nodefault
    address: 127.0.0.1:0
    routes:
      - match: { host: only.test }
        backend: alpha

  - name: custom404
    address: 127.0.0.1:0
    error_bodies:
      404: "nothing to see here\\n"
    routes:
      - match: { host: only.test }
        backend: alpha

backends:
  - name: alpha
    servers: [%(alpha)s]
  - name: beta
    servers: [%(beta)s]
  - name: gamma
    servers: [%(gamma)s]
  - name: fallback
    servers: [%(fallback)s]
"""


def upstream_handler(name):
    def handle(req):
        body = name.encode() + b"\n"
        head = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Upstream: %s\r\n"
                b"X-Secret: s3cr3t\r\nX-Keep: kept\r\n\r\n" % (len(body), name.encode()))
        return head if req.method == b"HEAD" else head + body
    return handle


class RoutingTest(LbdTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = {n: HttpUpstream(n, upstream_handler(n)) for n in UPSTREAMS}
        cls.lbd = Lbd(["--config", "{config}"],
                      CONFIG % {n: u.address for n, u in cls.ups.items()})
        cls.ids = itertools.count(1)

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.lbd.stop()
            log = cls.lbd.log()
            assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
            assert code == 0, log[-3000:]
        finally:
            cls.lbd.__exit__(None, None, None)
            for u in cls.ups.values():
                u.close()

    # -- helpers -------------------------------------------------------------------------------

    def port(self, listener="main"):
        return self.lbd.ports[listener]

    def new_id(self):
        return b"t%d" % next(self.ids)

    def send(self, host=b"t", target=b"/", method=b"GET", fields=b"", body=b"",
             listener="main", version=b"HTTP/1.1"):
        """One request on a fresh connection: (response, test id, reader)."""
        tid = self.new_id()
        raw = b"%s %s %s\r\n" % (method, target, version)
        if host is not None:
            raw += b"Host: %s\r\n" % host
        raw += b"X-Test-Id: %s\r\n" % tid + fields
        if body:
            raw += b"Content-Length: %d\r\n" % len(body)
        raw += b"\r\n" + body
        s = connect(self.port(listener))
        self.addCleanup(s.close)
        r = Reader(s)
        s.sendall(raw)
        return r.read_response(method), tid, r

    def received(self, tid):
        """[(upstream name, request)] for every upstream request carrying this test id."""
        out = []
        for name, up in self.ups.items():
            with up.lock:
                for _conn, req in up.requests:
                    if req.header("x-test-id") == tid:
                        out.append((name, req))
        return out

    def assert_routed(self, expected, host=b"t", target=b"/", **kw):
        """Sends one request and checks that exactly upstream `expected` received it and that
        the client got that upstream's answer. Returns (response, upstream request)."""
        resp, tid, _ = self.send(host, target, **kw)
        got = self.received(tid)
        self.assertEqual([n for n, _ in got], [expected],
                         "host %r target %r: expected %s, upstreams got %r; client got %r"
                         % (host, target, expected, got, resp.raw))
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual(resp.header("x-upstream"), expected.encode(), resp.raw)
        self.assertEqual(resp.body, expected.encode() + b"\n")
        return resp, got[0][1]

    def assert_local(self, resp, tid):
        """The answer came from lbd itself: no upstream saw the request."""
        self.assertEqual(self.received(tid), [], "an upstream received a locally answered request")

    # -- host ----------------------------------------------------------------------------------

    def test_host_exact(self):
        _, req = self.assert_routed("alpha", b"exact.test", b"/x")
        self.assertEqual(req.header("host"), b"exact.test")
        self.assertEqual(req.target, b"/x")

    def test_host_exact_other_names_fall_to_default(self):
        self.assert_routed("fallback", b"exact.test.evil")
        self.assert_routed("fallback", b"xexact.test")
        self.assert_routed("fallback", b"sub.exact.test")

    def test_host_case_insensitive(self):
        self.assert_routed("alpha", b"EXACT.Test")
        self.assert_routed("gamma", b"two.test")   # pattern written as Two.Test
        self.assert_routed("gamma", b"ONE.TEST")

    def test_host_with_port(self):
        _, req = self.assert_routed("alpha", b"exact.test:8080")
        self.assertEqual(req.header("host"), b"exact.test:8080")  # forwarded as received
        self.assert_routed("beta", b"a.wild.test:81")

    def test_host_wildcard(self):
        self.assert_routed("beta", b"a.wild.test")
        self.assert_routed("beta", b"a.b.wild.test")
        self.assert_routed("beta", b"A.WILD.TEST")

    def test_host_wildcard_does_not_match_bare_domain(self):
        self.assert_routed("fallback", b"wild.test")
        self.assert_routed("fallback", b".wild.test.example")
        self.assert_routed("fallback", b"notwild.test")

    # -- path ----------------------------------------------------------------------------------

    def test_path_exact(self):
        _, req = self.assert_routed("alpha", b"path.test", b"/exact")
        self.assertEqual(req.target, b"/exact")
        _, req = self.assert_routed("alpha", b"path.test", b"/exact?q=1")  # query not part of path
        self.assertEqual(req.target, b"/exact?q=1")
        self.assert_routed("fallback", b"path.test", b"/exact/")
        self.assert_routed("fallback", b"path.test", b"/exactly")
        self.assert_routed("fallback", b"path.test", b"/EXACT")

    def test_path_prefix(self):
        self.assert_routed("beta", b"path.test", b"/pre/")
        _, req = self.assert_routed("beta", b"path.test", b"/pre/a/b?c=d")
        self.assertEqual(req.target, b"/pre/a/b?c=d")
        self.assert_routed("fallback", b"path.test", b"/pre")
        self.assert_routed("fallback", b"path.test", b"/x/pre/")

    def test_path_regex(self):
        self.assert_routed("gamma", b"path.test", b"/v1/users")
        self.assert_routed("gamma", b"path.test", b"/v42/")
        self.assert_routed("fallback", b"path.test", b"/v/users")
        self.assert_routed("fallback", b"path.test", b"/x/v1/")     # anchored at ^
        self.assert_routed("fallback", b"path.test", b"/p?x=/v1/")  # the query is not the path

    # -- method, header fields, query, cookies, source ---------------------------------------

    def test_method(self):
        self.assert_routed("alpha", b"method.test", method=b"POST", body=b"hello")
        _, req = self.assert_routed("alpha", b"method.test", method=b"PUT", body=b"abc")
        self.assertEqual(req.body, b"abc")
        self.assert_routed("fallback", b"method.test", method=b"GET")
        self.assert_routed("fallback", b"method.test", method=b"DELETE")

    def test_header_present(self):
        self.assert_routed("alpha", b"header.test", fields=b"X-Flag: anything\r\n")
        self.assert_routed("alpha", b"header.test", fields=b"x-flag: \r\n")  # empty value
        self.assert_routed("fallback", b"header.test", fields=b"X-Flagged: 1\r\n")

    def test_header_equals(self):
        self.assert_routed("beta", b"header.test", fields=b"X-Canary: 1\r\n")
        self.assert_routed("beta", b"header.test", fields=b"x-CANARY: 1\r\n")
        self.assert_routed("fallback", b"header.test", fields=b"X-Canary: 0\r\n")
        self.assert_routed("fallback", b"header.test", fields=b"X-Canary: 11\r\n")
        # A repeated field matches when any occurrence does.
        self.assert_routed("beta", b"header.test", fields=b"X-Canary: 0\r\nX-Canary: 1\r\n")

    def test_header_regex(self):
        self.assert_routed("gamma", b"header.test", fields=b"User-Agent: Googlebot/2.1\r\n")
        self.assert_routed("fallback", b"header.test", fields=b"User-Agent: curl/8\r\n")

    def test_query(self):
        self.assert_routed("alpha", b"query.test", b"/s?v=2")
        self.assert_routed("alpha", b"query.test", b"/s?a=1&v=2&b=3")
        self.assert_routed("beta", b"query.test", b"/s?debug")
        self.assert_routed("beta", b"query.test", b"/s?x=1&debug=")
        self.assert_routed("fallback", b"query.test", b"/s?v=20")
        self.assert_routed("fallback", b"query.test", b"/s?V=2")       # names are exact
        self.assert_routed("fallback", b"query.test", b"/s?xv=2")
        self.assert_routed("fallback", b"query.test", b"/s")

    def test_cookie(self):
        self.assert_routed("alpha", b"cookie.test", fields=b"Cookie: beta=yes\r\n")
        self.assert_routed("alpha", b"cookie.test", fields=b"Cookie: a=1; beta=yes; c=2\r\n")
        self.assert_routed("alpha", b"cookie.test", fields=b"Cookie: a=1\r\nCookie: beta=yes\r\n")
        self.assert_routed("beta", b"cookie.test", fields=b"Cookie: ab=b7\r\n")
        self.assert_routed("fallback", b"cookie.test", fields=b"Cookie: beta=no\r\n")
        self.assert_routed("fallback", b"cookie.test", fields=b"Cookie: ab=b77\r\n")
        self.assert_routed("fallback", b"cookie.test", fields=b"X-Cookie: beta=yes\r\n")
        self.assert_routed("fallback", b"cookie.test")

    def test_source_cidr(self):
        # 10.0.0.0/8 (listed first) does not hold for 127.0.0.1; 127.0.0.0/8 does.
        self.assert_routed("alpha", b"source.test")
        # X-Forwarded-For is not the source.
        self.assert_routed("alpha", b"source.test", fields=b"X-Forwarded-For: 10.1.2.3\r\n")

    def test_first_match_wins(self):
        self.assert_routed("alpha", b"first.test", b"/a/b/c")
        self.assert_routed("alpha", b"first.test", b"/a")

    # -- no match ------------------------------------------------------------------------------

    def test_no_match_goes_to_default_backend(self):
        _, req = self.assert_routed("fallback", b"unknown.test", b"/anything?x=1")
        self.assertEqual(req.target, b"/anything?x=1")

    def test_no_match_without_default_is_404(self):
        self.assert_routed("alpha", b"only.test", listener="nodefault")
        resp, tid, r = self.send(b"other.test", b"/nope", listener="nodefault")
        self.assertEqual(resp.status, 404, resp.raw)
        self.assertEqual(resp.body, b"404 Not Found\n")
        self.assertEqual(resp.header("content-length"), b"%d" % len(resp.body))
        self.assertEqual(resp.header("content-type"), b"text/plain")
        self.assert_local(resp, tid)

    def test_no_match_custom_404_body(self):
        resp, tid, r = self.send(b"other.test", b"/nope", listener="custom404")
        self.assertEqual(resp.status, 404, resp.raw)
        self.assertEqual(resp.body, b"nothing to see here\n")
        self.assertEqual(resp.header("content-length"), b"20")
        self.assert_local(resp, tid)

    # -- split ---------------------------------------------------------------------------------

    def test_split_90_10_and_weight_zero(self):
        n = 1000
        s = connect(self.port(), timeout=10)
        self.addCleanup(s.close)
        r = Reader(s)
        counts = {}
        before = {k: len(u.requests) for k, u in self.ups.items()}
        batch = 50  # pipelined in batches to keep the run short under sanitizers
        for start in range(0, n, batch):
            s.sendall(b"GET /c HTTP/1.1\r\nHost: split.test\r\n\r\n" * batch)
            for _ in range(batch):
                resp = r.read_response()
                self.assertEqual(resp.status, 200, resp.raw)
                name = resp.header("x-upstream").decode()
                counts[name] = counts.get(name, 0) + 1
        self.assertEqual(sum(counts.values()), n)
        self.assertTrue(850 <= counts.get("alpha", 0) <= 950, counts)
        self.assertTrue(50 <= counts.get("beta", 0) <= 150, counts)
        self.assertNotIn("gamma", counts)
        self.assertNotIn("fallback", counts)
        # And the upstreams saw exactly those requests.
        for k, u in self.ups.items():
            self.assertEqual(len(u.requests) - before[k], counts.get(k, 0), k)

    # -- redirect ------------------------------------------------------------------------------

    def test_redirect_301_host_request_uri(self):
        resp, tid, r = self.send(b"redirect.test:8080", b"/moved/a?b=1&c=%20")
        self.assertEqual(resp.status, 301, resp.raw)
        self.assertTrue(resp.start.startswith(b"HTTP/1.1 301 "), resp.start)
        self.assertEqual(resp.all("location"), [b"https://redirect.test/moved/a?b=1&c=%20"])
        self.assertEqual(resp.header("content-length"), b"0")
        self.assertEqual(resp.body, b"")
        self.assert_local(resp, tid)

    def test_redirect_308_path_and_query(self):
        resp, tid, _ = self.send(b"redirect.test", b"/keep/x/y?q=1&r=2")
        self.assertEqual(resp.status, 308, resp.raw)
        self.assertEqual(resp.all("location"), [b"https://new.test/p/keep/x/y?from=q=1&r=2"])
        self.assertEqual(resp.header("content-length"), b"0")
        self.assert_local(resp, tid)
        # (The same route for a request without a query is tested on its own lbd below.)

    def test_redirect_default_302_scheme(self):
        resp, tid, _ = self.send(b"redirect.test", b"/other?x=1")
        self.assertEqual(resp.status, 302, resp.raw)
        self.assertEqual(resp.all("location"), [b"http://www.redirect.test/other"])
        self.assert_local(resp, tid)

    def test_redirect_head(self):
        resp, tid, r = self.send(b"redirect.test", b"/moved/h", method=b"HEAD")
        self.assertEqual(resp.status, 301, resp.raw)
        self.assertEqual(resp.all("location"), [b"https://redirect.test/moved/h"])
        self.assert_local(resp, tid)
        # Nothing follows the head: a second request on the connection gets a clean answer.
        r.sock.sendall(b"GET /moved/2 HTTP/1.1\r\nHost: redirect.test\r\n\r\n")
        resp2 = r.read_response()
        self.assertEqual(resp2.status, 301, resp2.raw)
        self.assertEqual(resp2.all("location"), [b"https://redirect.test/moved/2"])

    def test_redirect_keeps_connection_alive_without_body(self):
        resp, tid, r = self.send(b"redirect.test", b"/moved/1")
        self.assertEqual(resp.status, 301)
        self.assertIsNone(resp.header("connection"), resp.raw)
        r.sock.sendall(b"GET /x HTTP/1.1\r\nHost: exact.test\r\nX-Test-Id: ka1\r\n\r\n")
        resp2 = r.read_response()
        self.assertEqual(resp2.status, 200, resp2.raw)
        self.assertEqual(resp2.header("x-upstream"), b"alpha")
        self.assertEqual([n for n, _ in self.received(b"ka1")], ["alpha"])

    def test_redirect_closes_connection_when_request_had_body(self):
        resp, tid, r = self.send(b"redirect.test", b"/moved/post", method=b"POST",
                                 body=b"0123456789")
        self.assertEqual(resp.status, 301, resp.raw)
        self.assertEqual(resp.header("connection"), b"close", resp.raw)
        # The unread body must not be taken for a request: the connection just ends.
        self.assertTrue(r.closed(3.0), "connection still open after a redirect of a request "
                        "with a body; extra bytes: %r" % r.buf)
        self.assert_local(resp, tid)

    def test_redirect_closes_connection_when_request_body_is_chunked(self):
        tid = self.new_id()
        s = connect(self.port())
        self.addCleanup(s.close)
        r = Reader(s)
        s.sendall(b"POST /moved/c HTTP/1.1\r\nHost: redirect.test\r\nX-Test-Id: %s\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % tid)
        resp = r.read_response()
        self.assertEqual(resp.status, 301, resp.raw)
        self.assertEqual(resp.all("location"), [b"https://redirect.test/moved/c"])
        self.assertEqual(resp.header("connection"), b"close", resp.raw)
        self.assertTrue(r.closed(3.0), "extra bytes: %r" % r.buf)
        self.assert_local(resp, tid)

    # -- respond -------------------------------------------------------------------------------

    def test_respond(self):
        resp, tid, r = self.send(b"respond.test", b"/teapot")
        self.assertEqual(resp.status, 418, resp.raw)
        self.assertEqual(resp.body, b"short and stout\n")
        self.assertEqual(resp.header("content-type"), b"text/x-tea")
        self.assertEqual(resp.header("content-length"), b"16")
        self.assert_local(resp, tid)
        # kept alive
        r.sock.sendall(b"GET / HTTP/1.1\r\nHost: respond.test\r\n\r\n")
        resp2 = r.read_response()
        self.assertEqual(resp2.status, 200, resp2.raw)
        self.assertTrue(resp2.start.startswith(b"HTTP/1.1 200 OK"), resp2.start)
        self.assertEqual(resp2.body, b"User-agent: *\nDisallow: /\n")
        self.assertEqual(resp2.header("content-type"), b"text/plain")
        self.assertEqual(resp2.header("content-length"), b"%d" % len(resp2.body))

    def test_respond_head_has_no_body(self):
        resp, tid, r = self.send(b"respond.test", b"/teapot", method=b"HEAD")
        self.assertEqual(resp.status, 418, resp.raw)
        self.assertEqual(resp.header("content-length"), b"16")
        self.assertEqual(resp.header("content-type"), b"text/x-tea")
        # No body bytes may follow: the next response must start right after the head.
        r.sock.sendall(b"GET /teapot HTTP/1.1\r\nHost: respond.test\r\n\r\n")
        resp2 = r.read_response()
        self.assertEqual(resp2.status, 418, "bytes after a HEAD answer: %r" % resp2.raw)
        self.assertEqual(resp2.body, b"short and stout\n")
        self.assert_local(resp, tid)

    def test_respond_empty_body(self):
        resp, tid, r = self.send(b"respond.test", b"/empty")
        self.assertEqual(resp.status, 204, resp.raw)
        self.assertEqual(resp.body, b"")
        self.assert_local(resp, tid)

    def test_respond_with_request_body_closes(self):
        resp, tid, r = self.send(b"respond.test", b"/teapot", method=b"POST", body=b"x" * 100)
        self.assertEqual(resp.status, 418, resp.raw)
        self.assertEqual(resp.body, b"short and stout\n")
        self.assertEqual(resp.header("connection"), b"close", resp.raw)
        self.assertTrue(r.closed(3.0), "extra bytes: %r" % r.buf)

    # -- header modifiers ----------------------------------------------------------------------

    def test_request_headers_set_add_remove(self):
        fields = (b"X-Replace: original\r\nX-Add: mine\r\nX-Remove: gone\r\n"
                  b"x-remove-too: gone2\r\nX-Other: stays\r\nX-Set: a\r\nX-Set: b\r\n")
        resp, tid, _ = self.send(b"ops.test", b"/h", fields=fields)
        self.assertEqual(resp.status, 200, resp.raw)
        got = self.received(tid)
        self.assertEqual([n for n, _ in got], ["alpha"], got)
        req = got[0][1]
        self.assertEqual(req.all("x-set"), [b"set-value"])
        self.assertEqual(req.all("x-replace"), [b"replaced"])
        self.assertEqual(sorted(req.all("x-add")), [b"added", b"mine"])
        self.assertEqual(req.all("x-remove"), [])
        self.assertEqual(req.all("x-remove-too"), [])
        self.assertEqual(req.all("x-other"), [b"stays"])
        self.assertEqual(req.header("host"), b"ops.test")

    def test_response_headers_set_add_remove(self):
        resp, tid, _ = self.send(b"ops.test", b"/r")
        self.assertEqual([n for n, _ in self.received(tid)], ["alpha"])
        self.assertEqual(resp.status, 200, resp.raw)
        self.assertEqual(resp.all("x-upstream"), [b"set-by-route"])
        self.assertEqual(resp.all("x-extra"), [b"one"])
        self.assertEqual(resp.all("cache-control"), [b"no-store"])
        self.assertEqual(resp.all("x-secret"), [])
        self.assertEqual(resp.all("x-keep"), [b"kept"])
        self.assertEqual(resp.body, b"alpha\n")
        self.assertEqual(resp.header("content-length"), b"6")

    def test_modifiers_only_on_their_route(self):
        resp, req = self.assert_routed("alpha", b"exact.test", b"/h",
                                       fields=b"X-Remove: stays\r\n")
        self.assertEqual(req.all("x-remove"), [b"stays"])
        self.assertIsNone(req.header("x-set"))
        self.assertEqual(resp.all("x-secret"), [b"s3cr3t"])
        self.assertIsNone(resp.header("x-extra"))

    # -- rewrite -------------------------------------------------------------------------------

    def test_rewrite_strip_prefix(self):
        for sent, expected in [(b"/api/users", b"/users"),
                               (b"/api/users?id=3&x=%2F", b"/users?id=3&x=%2F"),
                               (b"/api", b"/"),
                               (b"/api?x=1", b"/?x=1"),
                               (b"/api/", b"/")]:
            resp, req = self.assert_routed("alpha", b"rewrite.test", sent)
            self.assertEqual(req.target, expected, sent)
            self.assertEqual(req.header("host"), b"rewrite.test")

    def test_rewrite_regex_with_groups(self):
        resp, req = self.assert_routed("beta", b"rewrite.test", b"/old/a/b/c?q=1")
        self.assertEqual(req.target, b"/new/b/c/a?q=1")
        resp, req = self.assert_routed("beta", b"rewrite.test", b"/old/nomatch")
        self.assertEqual(req.target, b"/old/nomatch")  # regex does not match: path unchanged

    # -- absolute form -------------------------------------------------------------------------

    def test_absolute_form_routed_by_authority(self):
        resp, req = self.assert_routed(
            "alpha", b"wrong.test", b"http://exact.test/abs/p?z=1")
        self.assertEqual(req.target, b"/abs/p?z=1")
        self.assertEqual(req.all("host"), [b"exact.test"])
        resp, req = self.assert_routed("beta", b"exact.test", b"http://x.wild.test:8080/q")
        self.assertEqual(req.target, b"/q")
        self.assertEqual(req.all("host"), [b"x.wild.test:8080"])

    def test_absolute_form_with_rewrite(self):
        resp, req = self.assert_routed("alpha", b"rewrite.test",
                                       b"http://rewrite.test/api/v?k=v")
        self.assertEqual(req.target, b"/v?k=v")


SMALL_CONFIG = """
workers: 1
listeners:
  - name: main
    address: 127.0.0.1:0
    backend: alpha
    routes:
      - match: { path_prefix: /keep }
        redirect: { to: "https://new.test/p$path?from=$query", status: 308 }
backends:
  - name: alpha
    servers: [%s]
"""


class RedirectEmptyVariableTest(LbdTestCase):
    """A redirect variable that is empty for this request (no query). Kept on its own lbd so
    that a crash here cannot take the other routing tests down with it."""

    def test_query_variable_without_query(self):
        up = HttpUpstream("alpha", upstream_handler("alpha"))
        self.addCleanup(up.close)
        lbd = Lbd(["--config", "{config}"], SMALL_CONFIG % up.address)
        try:
            s = connect(lbd.port)
            self.addCleanup(s.close)
            r = Reader(s)
            s.sendall(b"GET /keep/z HTTP/1.1\r\nHost: redirect.test\r\n\r\n")
            try:
                resp = r.read_response()
            except (EOFError, ConnectionResetError) as e:
                self.fail("no answer to GET /keep/z (redirect to ...?from=$query): %s\n%s"
                          % (e, lbd.log()[-2000:]))
            self.assertEqual(resp.status, 308, resp.raw)
            self.assertEqual(resp.all("location"), [b"https://new.test/p/keep/z?from="])
            # and the connection is still usable
            s.sendall(b"GET /keep/y?a=b HTTP/1.1\r\nHost: redirect.test\r\n\r\n")
            resp = r.read_response()
            self.assertEqual(resp.all("location"), [b"https://new.test/p/keep/y?from=a=b"])
            self.assertEqual(up.requests, [])
            assert_clean_exit(self, lbd)
        finally:
            lbd.__exit__(None, None, None)


if __name__ == "__main__":
    main()
