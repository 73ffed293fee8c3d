"""Balancing through the real binary: hash keys pin clients, weights shape the split."""
import collections
import signal
import threading
import time

from lbdtest import HttpUpstream, Lbd, LbdTestCase, Upstream, http_request, main


def ask(port, headers=b""):
    resp = http_request(port, b"GET /p HTTP/1.1\r\nHost: t\r\n" + headers +
                        b"Connection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200"), resp
    return resp.rsplit(b"\n", 2)[-2].decode()


class Hashing(LbdTestCase):
    def setUp(self):
        self.ups = [Upstream("u%d" % i) for i in range(3)]

    def tearDown(self):
        for u in self.ups:
            u.close()

    def check_pinned(self, port, make_headers):
        placement = {}
        for user in range(30):
            seen = {ask(port, make_headers(user)) for _ in range(3)}
            self.assertEqual(len(seen), 1, "user %d moved between %s" % (user, seen))
            placement[user] = seen.pop()
        spread = collections.Counter(placement.values())
        self.assertEqual(len(spread), 3, "30 keys all on %s" % spread)

    def test_consistent_hash_on_a_header_via_yaml(self):
        servers = "\n".join("      - %s" % u.address for u in self.ups)
        text = ("workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n    backend: app\n"
                "backends:\n  - name: app\n    balance: consistent_hash\n"
                "    consistent_hash: { method: maglev, key: \"header:X-User\" }\n"
                "    servers:\n%s\n" % servers)
        with Lbd(["--config", "{config}"], text) as lbd:
            self.check_pinned(lbd.port, lambda u: b"X-User: user-%d\r\n" % u)
            self.assertEqual(lbd.stop(), 0)

    def test_ring_hash_on_a_cookie_via_quick_mode(self):
        with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to",
                  ",".join(u.address for u in self.ups), "--balance", "ring_hash",
                  "--hash-key", "cookie:sid", "--workers", "2"]) as lbd:
            self.check_pinned(lbd.port, lambda u: b"Cookie: a=1; sid=s%d\r\n" % u)
            self.assertEqual(lbd.stop(), 0)

    def test_weights_via_quick_mode(self):
        a, b = self.ups[0], self.ups[1]
        with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", a.address + "=3",
                  "--to", b.address + "=1", "--workers", "1"]) as lbd:
            n = collections.Counter(ask(lbd.port) for _ in range(40))
            self.assertEqual(n, {"u0": 30, "u1": 10})
            self.assertEqual(lbd.stop(), 0)


class Sticky(LbdTestCase):
    def test_inserted_cookie_pins_and_falls_back_when_the_server_is_down(self):
        ups = [Upstream("u%d" % i) for i in range(3)]
        servers = "\n".join("      - { name: s%d, address: %s }" % (i, u.address)
                             for i, u in enumerate(ups))
        text = ("workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n    backend: app\n"
                "backends:\n  - name: app\n    sticky: { cookie: SRV }\n"
                "    health_check: { type: tcp, interval: 100ms, timeout: 80ms, rise: 1, fall: 1 }\n"
                "    servers:\n%s\n" % servers)
        try:
            with Lbd(["--config", "{config}"], text) as lbd:
                first = http_request(lbd.port, b"GET / HTTP/1.1\r\nHost: t\r\n"
                                               b"Connection: close\r\n\r\n")
                head = first.split(b"\r\n\r\n")[0].decode()
                cookie = [l.split(": ", 1)[1] for l in head.split("\r\n")
                          if l.lower().startswith("set-cookie:")]
                self.assertEqual(len(cookie), 1, head)
                self.assertIn("; Path=/; HttpOnly", cookie[0])
                pair = cookie[0].split(";")[0].encode()
                pinned = first.rsplit(b"\n", 2)[-2].decode()
                for _ in range(10):
                    resp = http_request(lbd.port, b"GET / HTTP/1.1\r\nHost: t\r\nCookie: a=b; " +
                                        pair + b"\r\nConnection: close\r\n\r\n")
                    self.assertEqual(resp.rsplit(b"\n", 2)[-2].decode(), pinned)
                    self.assertNotIn(b"Set-Cookie", resp, "a matching cookie is not set again")
                # The pinned server goes away: the request is balanced elsewhere and re-pinned.
                ups[int(pinned[1:])].close()
                lbd.wait_log("server app/s%s is DOWN" % pinned[1:])
                resp = http_request(lbd.port, b"GET / HTTP/1.1\r\nHost: t\r\nCookie: " + pair +
                                    b"\r\nConnection: close\r\n\r\n")
                self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
                self.assertNotEqual(resp.rsplit(b"\n", 2)[-2].decode(), pinned)
                self.assertIn(b"Set-Cookie: SRV=", resp)
                self.assertEqual(lbd.stop(), 0)
        finally:
            for u in ups:
                u.close()


def body_of(resp):
    return resp.split(b"\r\n\r\n", 1)[1]


class StickyLearn(LbdTestCase):
    """mode: learn follows the session cookie the application sets."""

    def session_app(self, name):
        counter = [0]

        def handler(req):
            cookie = req.header("cookie") or b""
            extra = b""
            if b"JSESSIONID=" not in cookie:
                counter[0] += 1
                extra = b"Set-Cookie: JSESSIONID=%s-%d; Path=/; Secure\r\n" % (
                    name.encode(), counter[0])
            body = name.encode()
            return (b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s"
                    % (extra, len(body), body))
        return HttpUpstream(name, handler)

    def test_sessions_follow_the_server_that_set_them(self):
        ups = [self.session_app("u%d" % i) for i in range(3)]
        servers = "\n".join("      - { name: s%d, address: %s }" % (i, u.address)
                             for i, u in enumerate(ups))
        text = ("workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n    backend: app\n"
                "backends:\n  - name: app\n"
                "    sticky: { mode: learn, cookie: JSESSIONID, ttl: 10m }\n"
                "    health_check: { type: tcp, interval: 100ms, timeout: 80ms, rise: 1, fall: 1 }\n"
                "    servers:\n%s\n" % servers)
        get = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        try:
            with Lbd(["--config", "{config}"], text) as lbd:
                sessions = {}
                for _ in range(6):
                    resp = http_request(lbd.port, get + b"\r\n")
                    head = resp.split(b"\r\n\r\n")[0]
                    cookie = [l.split(b": ", 1)[1].split(b";")[0] for l in head.split(b"\r\n")
                              if l.lower().startswith(b"set-cookie:")]
                    self.assertEqual(len(cookie), 1, head)  # the application's, passed through
                    sessions[cookie[0]] = body_of(resp).decode()
                self.assertEqual(len(set(sessions.values())), 3, sessions)  # round robin spread
                for _ in range(3):
                    for pair, server in sessions.items():
                        resp = http_request(lbd.port, get + b"Cookie: x=1; " + pair + b"\r\n\r\n")
                        self.assertEqual(body_of(resp).decode(), server, pair)
                        self.assertNotIn(b"Set-Cookie", resp)
                # An unknown session is balanced, not refused.
                resp = http_request(lbd.port, get + b"Cookie: JSESSIONID=forged\r\n\r\n")
                self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)

                # A reload keeps what was learned.
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("(generation 2)")
                pair, server = next(iter(sessions.items()))
                for _ in range(4):
                    resp = http_request(lbd.port, get + b"Cookie: " + pair + b"\r\n\r\n")
                    self.assertEqual(body_of(resp).decode(), server)

                # Its server goes down: balanced elsewhere, and the session moves there.
                ups[int(server[1:])].close()
                lbd.wait_log("server app/s%s is DOWN" % server[1:])
                moved = {body_of(http_request(lbd.port, get + b"Cookie: " + pair +
                                              b"\r\n\r\n")).decode() for _ in range(4)}
                self.assertEqual(len(moved), 1, moved)
                self.assertNotIn(server, moved)
                self.assertEqual(lbd.stop(), 0)
        finally:
            for u in ups:
                u.close()


class Queue(LbdTestCase):
    """max_connections with the backend queue: waiters get a slot in order, or 503."""

    def slow_app(self, delay):
        state = {"now": 0, "peak": 0}
        lock = threading.Lock()

        def handler(req):
            with lock:
                state["now"] += 1
                state["peak"] = max(state["peak"], state["now"])
            time.sleep(delay)
            with lock:
                state["now"] -= 1
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        return HttpUpstream("slow", handler), state

    def burst(self, port, n):
        out = [None] * n

        def one(i):
            try:
                out[i] = http_request(port, b"GET / HTTP/1.1\r\nHost: t\r\n"
                                            b"Connection: close\r\n\r\n", timeout=10)[:12]
            except OSError as e:
                out[i] = repr(e).encode()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
            time.sleep(0.01)  # arrival order is queue order
        for t in threads:
            t.join()
        return collections.Counter(r.decode() for r in out)

    def config(self, up, queue):
        return ("workers: 2\nlisteners:\n  - address: 127.0.0.1:0\n    backend: app\n"
                "backends:\n  - name: app\n    queue: %s\n"
                "    servers:\n      - { address: %s, max_connections: 2 }\n" % (queue, up.address))

    def test_waiters_are_served_as_slots_free_and_never_exceed_the_limit(self):
        up, state = self.slow_app(0.2)
        try:
            with Lbd(["--config", "{config}"], self.config(up, "{ size: 20, timeout: 5s }")) as lbd:
                counts = self.burst(lbd.port, 8)
                self.assertEqual(counts, {"HTTP/1.1 200": 8})
                self.assertEqual(state["peak"], 2)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()

    def test_a_full_queue_and_a_queue_timeout_answer_503(self):
        up, state = self.slow_app(1.5)
        try:
            with Lbd(["--config", "{config}"], self.config(up, "{ size: 1, timeout: 300ms }")) as lbd:
                counts = self.burst(lbd.port, 5)
                # Two in service, one waits and times out, two find the queue full.
                self.assertEqual(counts, {"HTTP/1.1 200": 2, "HTTP/1.1 503": 3})
                self.assertIn("(queue timeout)", lbd.log())
                self.assertEqual(lbd.log().count("(queue full)"), 2)
                self.assertEqual(state["peak"], 2)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()

    def test_without_a_queue_a_full_backend_answers_503_at_once(self):
        up, _ = self.slow_app(1.0)
        try:
            with Lbd(["--config", "{config}"], self.config(up, "{ size: 0 }")) as lbd:
                start = time.monotonic()
                counts = self.burst(lbd.port, 4)
                self.assertEqual(counts, {"HTTP/1.1 200": 2, "HTTP/1.1 503": 2})
                self.assertIn("every server is at max_connections", lbd.log())
                self.assertLess(time.monotonic() - start, 1.9)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()


class SlowStart(LbdTestCase):
    def test_a_recovered_server_ramps_up(self):
        ups = [Upstream("u0"), Upstream("u1")]
        port1 = ups[1].port
        text = ("workers: 1\nlisteners:\n  - address: 127.0.0.1:0\n    backend: app\n"
                "backends:\n  - name: app\n    balance: least_connections\n"
                "    health_check: { type: tcp, interval: 100ms, timeout: 80ms, rise: 1, fall: 1 }\n"
                "    servers:\n"
                "      - { name: s0, address: %s, slow_start: 3s }\n"
                "      - { name: s1, address: %s, slow_start: 3s }\n"
                % (ups[0].address, ups[1].address))
        try:
            with Lbd(["--config", "{config}"], text) as lbd:
                first = collections.Counter(ask(lbd.port) for _ in range(40))
                self.assertEqual(first, {"u0": 20, "u1": 20})  # no ramp at startup
                ups[1].close()
                lbd.wait_log("server app/s1 is DOWN")
                ups[1] = Upstream("u1", port=port1)
                lbd.wait_log("ramps up to its full share over 3000ms (slow start)")
                up_at = time.monotonic()
                early = collections.Counter()
                while time.monotonic() - up_at < 0.6:  # share at most 20%
                    early[ask(lbd.port)] += 1
                self.assertLess(early["u1"], 0.25 * sum(early.values()), early)
                self.assertGreater(early["u0"], 10, early)
                time.sleep(max(0.0, 3.2 - (time.monotonic() - up_at)))
                late = collections.Counter(ask(lbd.port) for _ in range(40))
                self.assertEqual(late, {"u0": 20, "u1": 20})  # the ramp is over
                self.assertEqual(lbd.stop(), 0)
        finally:
            for u in ups:
                u.close()


if __name__ == "__main__":
    main()
