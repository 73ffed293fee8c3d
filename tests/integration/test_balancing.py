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


if __name__ == "__main__":
    main()
