"""Listener features end to end through a YAML config and the real lbd binary: the access log
(combined and json, to a file), trusted_proxies, error_bodies, request_timeout and a SIGHUP
reload that switches a route's backend.
"""
import json
import os
import re
import signal
import tempfile
import time
from datetime import datetime, timezone

from lbdtest import (HttpUpstream, Lbd, LbdTestCase, Reader, assert_clean_exit,
                     connect, free_port, main)


def named_handler(name):
    def handle(req):
        body = name.encode() + b"\n"
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Upstream: %s\r\n\r\n" % (
            len(body), name.encode())
        return head if req.method == b"HEAD" else head + body
    return handle


def wait_lines(path, count, timeout):
    """The file's complete lines once it has at least `count`, or whatever it has at timeout."""
    deadline = time.time() + timeout
    lines = []
    while True:
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
            lines = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")[:-1]
            if len(lines) >= count:
                return lines
        if time.time() >= deadline:
            return lines
        time.sleep(0.02)


class FeatureCase(LbdTestCase):
    def setUp(self):
        self.to_close = []
        self.lbd = None
        self.tmp = tempfile.TemporaryDirectory(prefix="lbdfeat-")
        self.addCleanup(self.tmp.cleanup)

    def tearDown(self):
        for c in self.to_close:
            c.close()
        if self.lbd is not None:
            try:
                assert_clean_exit(self, self.lbd)
            finally:
                self.lbd.__exit__(None, None, None)

    def upstream(self, name="up", handler=None):
        up = HttpUpstream(name, handler or named_handler(name))
        self.to_close.append(up)
        return up

    def start(self, config):
        self.lbd = Lbd(["--config", "{config}"], config)
        return self.lbd

    def client(self, listener=None, timeout=5.0):
        port = self.lbd.ports[listener] if listener else self.lbd.port
        s = connect(port, timeout)
        self.to_close.append(s)
        return s, Reader(s)

    def request(self, raw, method=b"GET", listener=None, timeout=5.0):
        s, r = self.client(listener, timeout)
        s.sendall(raw)
        return r.read_response(method), r


# ---------------------------------------------------------------------------------------------
# Access log

LOG_CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
    access_log:
      format: %(format)s
      path: %(path)s
    routes:
      - name: health
        match: { path: /healthz }
        respond: { status: 200, body: "ok\\n" }
backends:
  - name: app
    servers:
      - { name: app-one, address: %(address)s }
"""

COMBINED_RE = re.compile(
    rb'^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(.*)" (\d{3}) (\d+) '
    rb'"(.*)" "(.*)"$')


class AccessLogTest(FeatureCase):
    def log_config(self, fmt):
        up = self.upstream("app")
        path = os.path.join(self.tmp.name, "access.log")
        self.start(LOG_CONFIG % {"format": fmt, "path": path, "address": up.address})
        return up, path

    def test_combined(self):
        up, path = self.log_config("combined")
        s, r = self.client()
        t0 = time.time()
        s.sendall(b"GET /api/users?id=3 HTTP/1.1\r\nHost: www.example.com\r\n"
                  b"Referer: https://www.example.com/\r\nUser-Agent: curl/8.5.0\r\n\r\n")
        resp = r.read_response()
        self.assertEqual(resp.status, 200)
        s.sendall(b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        self.assertEqual(r.read_response().status, 200)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\nUser-Agent: a \"quoted\" agent\r\n\r\n")
        resp = r.read_response()
        self.assertEqual(resp.body, b"ok\n")
        lines = wait_lines(path, 3, 1.5)
        self.assertEqual(len(lines), 3, "lines after 1.5 s: %r" % lines)
        self.assertLess(time.time() - t0, 1.6)
        m = [COMBINED_RE.match(l) for l in lines]
        for l, mm in zip(lines, m):
            self.assertIsNotNone(mm, "not a combined line: %r" % l)
        self.assertEqual(m[0].group(1), b"127.0.0.1")
        self.assertEqual(m[0].group(3), b"GET /api/users?id=3 HTTP/1.1")
        self.assertEqual(m[0].group(4), b"200")
        self.assertEqual(m[0].group(5), b"4")  # "app\n"
        self.assertEqual(m[0].group(6), b"https://www.example.com/")
        self.assertEqual(m[0].group(7), b"curl/8.5.0")
        when = datetime.strptime(m[0].group(2).decode(), "%d/%b/%Y:%H:%M:%S +0000").replace(
            tzinfo=timezone.utc)
        self.assertLess(abs(when.timestamp() - t0), 5)
        self.assertEqual(m[1].group(3), b"POST /form HTTP/1.1")
        self.assertEqual((m[1].group(4), m[1].group(5)), (b"200", b"4"))
        self.assertEqual((m[1].group(6), m[1].group(7)), (b"-", b"-"))
        self.assertEqual(m[2].group(3), b"GET /healthz HTTP/1.1")
        self.assertEqual((m[2].group(4), m[2].group(5)), (b"200", b"3"))
        self.assertEqual(m[2].group(7), b"a \\x22quoted\\x22 agent")

    def test_json_fields(self):
        up, path = self.log_config("json")
        s, r = self.client()
        t0 = time.time()
        s.sendall(b"GET /p?q=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n"
                  b"Referer: http://r/\r\nUser-Agent: tester/1\r\n\r\n")
        self.assertEqual(r.read_response().status, 200)
        s.sendall(b"HEAD /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(r.read_response(b"HEAD").status, 200)
        lines = wait_lines(path, 2, 1.5)
        self.assertEqual(len(lines), 2, lines)
        recs = [json.loads(l) for l in lines]
        a, b = recs
        self.assertEqual(set(a), {"time", "client", "listener", "method", "target", "protocol",
                                  "host", "status", "bytes", "duration", "backend", "server",
                                  "referer", "user_agent"})
        self.assertRegex(a["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        when = datetime.strptime(a["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        self.assertLess(abs(when.timestamp() - t0), 5)
        self.assertEqual(a["client"], "127.0.0.1")
        self.assertEqual(a["listener"], "web")
        self.assertEqual((a["method"], a["target"], a["protocol"]), ("GET", "/p?q=1", "HTTP/1.1"))
        self.assertEqual(a["host"], "Example.COM:8080")
        self.assertEqual((a["status"], a["bytes"]), (200, 4))
        self.assertIsInstance(a["duration"], float)
        self.assertTrue(0 <= a["duration"] < 5, a["duration"])
        self.assertEqual((a["backend"], a["server"]), ("app", "app-one"))
        self.assertEqual((a["referer"], a["user_agent"]), ("http://r/", "tester/1"))
        # lbd's own answer: no backend, no body for HEAD
        self.assertEqual((b["method"], b["target"], b["protocol"]), ("HEAD", "/healthz", "HTTP/1.0"))
        self.assertEqual((b["status"], b["bytes"]), (200, 0))
        self.assertEqual((b["backend"], b["server"], b["host"]), ("", "", ""))
        self.assertEqual((b["referer"], b["user_agent"]), ("", ""))

    def test_bad_request_is_logged(self):
        up, path = self.log_config("json")
        resp, r = self.request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertEqual(resp.status, 400, resp.raw)
        resp2, r2 = self.request(b"NOT A REQUEST\r\n\r\n")
        self.assertEqual(resp2.status, 400, resp2.raw)
        lines = wait_lines(path, 2, 1.5)
        self.assertEqual(len(lines), 2, lines)
        for l, resp in zip(lines, (resp, resp2)):
            rec = json.loads(l)
            self.assertEqual(rec["status"], 400, rec)
            self.assertEqual(rec["client"], "127.0.0.1")
            self.assertEqual(rec["listener"], "web")
            self.assertEqual(rec["bytes"], len(resp.body), rec)
            self.assertEqual((rec["backend"], rec["server"]), ("", ""))
        self.assertEqual(up.requests, [])

    def test_bad_request_is_logged_combined(self):
        up, path = self.log_config("combined")
        resp, r = self.request(b"NOT A REQUEST\r\n\r\n")
        self.assertEqual(resp.status, 400, resp.raw)
        lines = wait_lines(path, 1, 1.5)
        self.assertEqual(len(lines), 1, lines)
        m = COMBINED_RE.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), b"127.0.0.1")
        self.assertEqual(m.group(4), b"400")
        self.assertEqual(m.group(5), b"%d" % len(resp.body))

    def test_log_complete_after_sigterm(self):
        up, path = self.log_config("json")
        n = 40
        s, r = self.client()
        for i in range(n):
            s.sendall(b"GET /n/%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
            self.assertEqual(r.read_response().status, 200)
        s.close()
        # At once, before the 100 ms flush had a chance to come round.
        code = self.lbd.stop()
        self.assertEqual(code, 0, self.lbd.log()[-2000:])
        lines = wait_lines(path, n, 0.1)
        self.assertEqual(len(lines), n, "after SIGTERM the access log has %d of %d lines"
                         % (len(lines), n))
        self.assertEqual([json.loads(l)["target"] for l in lines],
                         ["/n/%d" % i for i in range(n)])

    def test_log_file_mode_and_append(self):
        up = self.upstream("app")
        path = os.path.join(self.tmp.name, "pre.log")
        with open(path, "wb") as f:
            f.write(b"existing line\n")
        self.start(LOG_CONFIG % {"format": "combined", "path": path, "address": up.address})
        resp, _ = self.request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(resp.status, 200)
        lines = wait_lines(path, 2, 1.5)
        self.assertEqual(lines[0], b"existing line")
        self.assertEqual(len(lines), 2, lines)

    def test_new_file_mode_0640(self):
        up, path = self.log_config("combined")
        resp, _ = self.request(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        wait_lines(path, 1, 1.5)
        old = os.umask(0)
        os.umask(old)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o640 & ~old)


# ---------------------------------------------------------------------------------------------
# trusted_proxies

PROXY_CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
%(trusted)s
backends:
  - name: app
    servers: [%(address)s]
"""

FWD_FIELDS = (b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
              b"X-Forwarded-Host: public.example\r\nForwarded: for=203.0.113.9;proto=https\r\n")


class TrustedProxiesTest(FeatureCase):
    def forwarded(self, trusted):
        up = self.upstream("app")
        self.start(PROXY_CONFIG % {"address": up.address, "trusted": trusted})
        resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: inner.example\r\n" + FWD_FIELDS +
                               b"\r\n")
        self.assertEqual(resp.status, 200, resp.raw)
        return up.only_request()

    def test_trusted_keeps_and_appends(self):
        req = self.forwarded("    trusted_proxies: [127.0.0.1, 10.0.0.0/8]")
        self.assertEqual(req.all("x-forwarded-for"), [b"203.0.113.9, 127.0.0.1"])
        self.assertEqual(req.all("x-forwarded-proto"), [b"https"])
        self.assertEqual(req.all("x-forwarded-host"), [b"public.example"])
        self.assertEqual(req.all("forwarded"),
                         [b'for=203.0.113.9;proto=https, for=127.0.0.1;proto=http;'
                          b'host="inner.example"'])

    def test_trusted_by_cidr(self):
        req = self.forwarded("    trusted_proxies: [127.0.0.0/8]")
        self.assertEqual(req.all("x-forwarded-for"), [b"203.0.113.9, 127.0.0.1"])
        self.assertEqual(req.all("x-forwarded-proto"), [b"https"])

    def test_untrusted_drops_and_replaces(self):
        req = self.forwarded("")
        self.assertEqual(req.all("x-forwarded-for"), [b"127.0.0.1"])
        self.assertEqual(req.all("x-forwarded-proto"), [b"http"])
        self.assertEqual(req.all("x-forwarded-host"), [b"inner.example"])
        self.assertEqual(req.all("forwarded"), [b'for=127.0.0.1;proto=http;host="inner.example"'])

    def test_other_address_listed_is_not_trust(self):
        req = self.forwarded("    trusted_proxies: [10.0.0.0/8, \"::1\"]")
        self.assertEqual(req.all("x-forwarded-for"), [b"127.0.0.1"])
        self.assertEqual(req.all("x-forwarded-proto"), [b"http"])

    def test_trusted_without_client_fields(self):
        up = self.upstream("app")
        self.start(PROXY_CONFIG % {"address": up.address,
                                   "trusted": "    trusted_proxies: [127.0.0.1]"})
        resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: inner.example\r\n\r\n")
        self.assertEqual(resp.status, 200)
        req = up.only_request()
        self.assertEqual(req.all("x-forwarded-for"), [b"127.0.0.1"])
        self.assertEqual(req.all("x-forwarded-proto"), [b"http"])
        self.assertEqual(req.all("x-forwarded-host"), [b"inner.example"])


# ---------------------------------------------------------------------------------------------
# error_bodies

ERR_CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: down
    error_bodies:
      502: "The application is down.\\n"
      504: |
        Took too long.
        Try again later.
      400: "bad, bad request"
    routes:
      - match: { host: slow.test }
        backend: slow
backends:
  - name: down
    connect_timeout: 1s
    servers: [127.0.0.1:%(free)d]
  - name: slow
    response_timeout: 500ms
    servers: [%(slow)s]
"""


class ErrorBodiesTest(FeatureCase):
    def setUp(self):
        super().setUp()
        self.slow = self.upstream("slow", handler=lambda req: b"")  # never answers
        self.start(ERR_CONFIG % {"free": free_port(), "slow": self.slow.address})

    def test_502_body(self):
        resp, r = self.request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 502, resp.raw)
        self.assertEqual(resp.body, b"The application is down.\n")
        self.assertEqual(resp.header("content-length"), b"25")
        self.assertEqual(resp.header("content-type"), b"text/plain")
        self.assertTrue(r.closed(3.0))

    def test_504_body(self):
        t0 = time.time()
        resp, r = self.request(b"GET / HTTP/1.1\r\nHost: slow.test\r\n\r\n")
        elapsed = time.time() - t0
        self.assertEqual(resp.status, 504, resp.raw)
        self.assertEqual(resp.body, b"Took too long.\nTry again later.\n")
        self.assertEqual(resp.header("content-length"), b"%d" % len(resp.body))
        self.assertTrue(0.45 <= elapsed <= 1.2, elapsed)
        self.assertEqual(len(self.slow.requests), 1)

    def test_400_body(self):
        resp, r = self.request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertEqual(resp.status, 400, resp.raw)
        self.assertEqual(resp.body, b"bad, bad request")
        self.assertEqual(resp.header("content-length"), b"16")

    def test_head_request_gets_no_error_body(self):
        # RFC 9110 §9.3.2: a response to HEAD carries no content, even an error.
        resp, r = self.request(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", method=b"HEAD")
        self.assertEqual(resp.status, 502, resp.raw)
        self.assertEqual(resp.header("content-length"), b"25")
        self.assertTrue(r.closed(3.0), "bytes after the head of a HEAD answer: %r" % r.buf)


# ---------------------------------------------------------------------------------------------
# request_timeout

TIMEOUT_CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
    request_timeout: 1s
backends:
  - name: app
    response_timeout: 10s
    servers: [%(address)s]
"""


class RequestTimeoutTest(FeatureCase):
    SLACK = 0.3

    def start_with(self, handler):
        up = self.upstream("app", handler)
        self.start(TIMEOUT_CONFIG % {"address": up.address})
        return up

    def timed(self, raw):
        s, r = self.client(timeout=10)
        t0 = time.time()
        s.sendall(raw)
        return s, r, t0

    def test_upstream_never_answers(self):
        up = self.start_with(lambda req: b"")
        s, r, t0 = self.timed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        resp = r.read_response()
        elapsed = time.time() - t0
        self.assertEqual(resp.status, 504, resp.raw)
        self.assertEqual(resp.body, b"504 Gateway Timeout\n")
        self.assertTrue(1.0 - 0.05 <= elapsed <= 1.0 + self.SLACK, elapsed)

    def test_upstream_trickles_head(self):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"x" * 40 + b"\r\n\r\nok"
        # One byte every 50 ms: 4 s for the whole head, so each read restarts the
        # response_timeout, but the whole exchange must end at request_timeout.
        up = self.start_with(lambda req: [head[i:i + 1] for i in range(len(head))])
        s, r, t0 = self.timed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        resp = r.read_response()
        elapsed = time.time() - t0
        self.assertEqual(resp.status, 504, resp.raw)
        self.assertTrue(1.0 - 0.05 <= elapsed <= 1.0 + self.SLACK, elapsed)

    def test_upstream_trickles_body(self):
        body = b"z" * 60
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        # The head comes at once, the body a byte per 50 ms: once the response has started the
        # only honest end is cutting the connection, at request_timeout.
        up = self.start_with(lambda req: [head] + [body[i:i + 1] for i in range(len(body))])
        s, r, t0 = self.timed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        got = r.read_to_eof()
        elapsed = time.time() - t0
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got)
        self.assertLess(len(got), len(head) + len(body), "whole body arrived: no cut")
        self.assertTrue(1.0 - 0.05 <= elapsed <= 1.0 + self.SLACK, elapsed)

    def test_fast_exchanges_unaffected(self):
        up = self.start_with(named_handler("app"))
        s, r = self.client()
        # Several exchanges on one connection over more than request_timeout in total: the
        # bound is per request.
        for i in range(4):
            s.sendall(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
            resp = r.read_response()
            self.assertEqual(resp.status, 200, resp.raw)
            time.sleep(0.4)
        s.sendall(b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(r.read_response().status, 200)


# ---------------------------------------------------------------------------------------------
# SIGHUP reload

RELOAD_CONFIG = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: one
    routes:
      - name: switch
        match: { host: switch.test }
        backend: %(target)s
backends:
  - name: one
    servers: [%(one)s]
  - name: two
    servers: [%(two)s]
"""


class ReloadTest(FeatureCase):
    def test_sighup_switches_route_backend(self):
        one, two = self.upstream("one"), self.upstream("two")
        conf = {"one": one.address, "two": two.address}
        lbd = self.start(RELOAD_CONFIG % dict(conf, target="one"))
        port = lbd.port
        resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: switch.test\r\n\r\n")
        self.assertEqual(resp.header("x-upstream"), b"one")
        with open(lbd.config_path, "w") as f:
            f.write(RELOAD_CONFIG % dict(conf, target="two"))
        lbd.send_signal(signal.SIGHUP)
        lbd.wait_log("(generation 2)", timeout=5)
        for _ in range(3):
            resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: switch.test\r\n\r\n")
            self.assertEqual(resp.status, 200, resp.raw)
            self.assertEqual(resp.header("x-upstream"), b"two", lbd.log()[-2000:])
        # Other requests still go to the default backend; the listener did not move.
        self.assertEqual(lbd.port, port)
        resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")
        self.assertEqual(resp.header("x-upstream"), b"one")
        self.assertEqual(len(two.requests), 3)

    def test_bad_reload_keeps_previous_config(self):
        one, two = self.upstream("one"), self.upstream("two")
        conf = {"one": one.address, "two": two.address}
        lbd = self.start(RELOAD_CONFIG % dict(conf, target="one"))
        with open(lbd.config_path, "w") as f:
            f.write(RELOAD_CONFIG % dict(conf, target="nosuch"))
        lbd.send_signal(signal.SIGHUP)
        lbd.wait_log("reload failed", timeout=5)
        resp, _ = self.request(b"GET / HTTP/1.1\r\nHost: switch.test\r\n\r\n")
        self.assertEqual(resp.header("x-upstream"), b"one")
        self.assertNotIn("(generation 2)", lbd.log())


if __name__ == "__main__":
    main()
