"""Health checking end to end: a killed upstream stops getting traffic with no client error,
comes back when restarted; an all-down backend answers 503 at once; a backup takes over."""
import collections
import signal
import socket
import threading
import time

from lbdtest import Lbd, LbdTestCase, main


class KillableUpstream:
    """HTTP/1.1 keep-alive upstream that can be killed (listener and live connections closed)
    and restarted on the same port."""

    def __init__(self, name, port=0):
        self.name = name
        self.hits = 0
        self.lock = threading.Lock()
        self.conns = []
        self.sock = None
        self.port = port
        self.start()

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    with self.lock:
                        self.hits += 1
                    self.before_answer(head)
                    body = self.name.encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass

    def before_answer(self, head):
        """Hook for subclasses that answer some requests slowly."""

    def kill(self):
        self.sock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()


def config(ups, check="tcp", extra_server=""):
    servers = "\n".join("      - { name: %s, address: %s }" % (u.name, u.address) for u in ups)
    return """
workers: 2
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
backends:
  - name: app
    connect_timeout: 500ms
    health_check: { type: %s, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    servers:
%s
%s
""" % (check, servers, extra_server)


class Load:
    """Steady GET load over a few keep-alive connections; records statuses and bodies."""

    def __init__(self, port, conns=4):
        self.port = port
        self.stop_flag = False
        self.results = []  # (time, status, body)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(conns)]
        for t in self.threads:
            t.start()

    def run(self):
        s = None
        while not self.stop_flag:
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError("closed")
                    data += chunk
                head, body = data.split(b"\r\n\r\n", 1)
                length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                              if l.lower().startswith(b"content-length")][0])
                while len(body) < length:
                    body += s.recv(4096)
                status = int(head.split(b" ")[1])
                with self.lock:
                    self.results.append((time.time(), status, body.decode()))
                if b"connection: close" in head.lower():
                    s.close()
                    s = None
            except OSError as e:
                with self.lock:
                    self.results.append((time.time(), 0, str(e)))
                if s:
                    s.close()
                s = None
            time.sleep(0.002)

    def stop(self):
        self.stop_flag = True
        for t in self.threads:
            t.join(5)
        return self.results


class Failover(LbdTestCase):
    def test_killed_upstream_stops_getting_traffic_without_client_errors_and_rejoins(self):
        ups = [KillableUpstream("a"), KillableUpstream("b"), KillableUpstream("c")]
        with Lbd(["--config", "{config}"], config(ups)) as lbd:
            load = Load(lbd.port)
            time.sleep(1.0)
            kill_at = time.time()
            ups[1].kill()
            time.sleep(2.0)
            ups[1].start()
            time.sleep(2.0)
            results = load.stop()
            errors = [r for r in results if r[1] != 200]
            self.assertEqual(errors, [], "clients saw errors:\n" + lbd.log()[-3000:])
            # fall x interval = 400 ms (+ a check timeout and the sweep): none after 1 s.
            window = [r for r in results if kill_at + 1.0 < r[0] < kill_at + 2.0]
            self.assertTrue(window)
            self.assertNotIn("b", collections.Counter(r[2] for r in window))
            late = collections.Counter(r[2] for r in results if r[0] > kill_at + 3.5)
            self.assertGreater(late["b"], 0, "b never rejoined: %s" % late)
            lbd.wait_log("server app/b is DOWN")
            lbd.wait_log("server app/b is UP")
            self.assertEqual(lbd.stop(), 0)

    def test_all_down_answers_503_at_once(self):
        ups = [KillableUpstream("a")]
        with Lbd(["--config", "{config}"], config(ups)) as lbd:
            ups[0].kill()
            lbd.wait_log("server app/a is DOWN")
            s = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
            t0 = time.time()
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data)
            self.assertLess(time.time() - t0, 0.2)
            self.assertEqual(lbd.stop(), 0)

    def test_backup_takes_over_when_every_primary_is_down(self):
        ups = [KillableUpstream("a")]
        backup = KillableUpstream("spare")
        extra = "      - { name: spare, address: %s, backup: true }" % backup.address
        with Lbd(["--config", "{config}"], config(ups, extra_server=extra)) as lbd:
            load = Load(lbd.port, conns=2)
            time.sleep(0.5)
            ups[0].kill()
            lbd.wait_log("server app/a is DOWN")
            down_at = time.time()
            time.sleep(1.0)
            results = load.stop()
            early = collections.Counter(r[2] for r in results[:20])
            self.assertEqual(set(early), {"a"}, "the backup served while the primary was up")
            # Between the kill and the DOWN verdict a request whose only primary just died has
            # nowhere to go (backups serve only once no primary is up, as in HAProxy); from the
            # verdict on, the backup takes everything without an error.
            after = [r for r in results if r[0] > down_at + 0.05]
            self.assertTrue(after)
            self.assertEqual([r for r in after if r[1] != 200], [])
            self.assertEqual({r[2] for r in after}, {"spare"})
            self.assertEqual(lbd.stop(), 0)


class SlowUpstream(KillableUpstream):
    """Answers /slow after 1 s, anything else at once."""

    def before_answer(self, head):
        if head.startswith(b"GET /slow"):
            time.sleep(1.0)


class Drain(LbdTestCase):
    def test_drained_server_finishes_in_flight_and_gets_nothing_new(self):
        a, b = SlowUpstream("a"), SlowUpstream("b")
        text = """
workers: 1
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: app
backends:
  - name: app
    servers:
      - { name: a, address: %s }
      - { name: b, address: %s, admin: ADMIN }
""" % (a.address, b.address)
        with Lbd(["--config", "{config}"], text.replace("ADMIN", "enabled")) as lbd:
            # Round robin: the first request goes to a, the second (slow) one to b.
            first = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
            first.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            self.assertIn(b"\r\n\r\na", first.recv(4096))
            slow = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
            slow.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.2)
            with open(lbd.config_path, "w") as f:
                f.write(text.replace("ADMIN", "drain"))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("(generation 2)")
            before = b.hits
            for _ in range(10):
                c = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
                c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                c.close()
                self.assertTrue(data.endswith(b"\r\n\r\na"), data)
            self.assertEqual(b.hits, before, "a drained server got new requests")
            # The request in flight on b when the drain began still completes.
            data = slow.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200") and data.endswith(b"b"), data)
            self.assertEqual(lbd.stop(), 0)


if __name__ == "__main__":
    main()
