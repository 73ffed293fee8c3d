"""Upstream connection reuse, including after large responses (a wait that completes spuriously
must not make the pool drop a healthy idle connection)."""
import socket

from lbdtest import Lbd, LbdTestCase, Upstream, main

BIG = 1 << 20


def big_respond(conn, buf):
    while b"\r\n\r\n" in buf:
        _head, buf = buf.split(b"\r\n\r\n", 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
        conn.sendall(b"x" * BIG)
    return buf


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise AssertionError("connection closed in the body")
        body += chunk
    return head, body


class Pool(LbdTestCase):
    def run_sequential(self, respond, size):
        up = Upstream("big", respond=respond)
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--workers", "1"]) as lbd:
                for _ in range(3):  # three client connections in turn
                    s = socket.create_connection(("127.0.0.1", lbd.port), timeout=10)
                    for _ in range(10):
                        s.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
                        head, body = read_response(s)
                        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                        self.assertEqual(len(body), size)
                    s.close()
                self.assertEqual(lbd.stop(), 0)
            self.assertEqual(up.connections, 1, "30 sequential requests should share one "
                                                 "upstream connection")
        finally:
            up.close()

    def test_large_responses_reuse_one_upstream_connection(self):
        self.run_sequential(big_respond, BIG)

    def test_small_responses_reuse_one_upstream_connection(self):
        self.run_sequential(None, len(b"big\n"))


if __name__ == "__main__":
    main()
