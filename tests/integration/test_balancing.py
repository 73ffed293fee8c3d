"""Balancing through the real binary: hash keys pin clients, weights shape the split."""
import collections

from lbdtest import Lbd, LbdTestCase, Upstream, http_request, main


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


if __name__ == "__main__":
    main()
