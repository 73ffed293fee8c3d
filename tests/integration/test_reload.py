"""Hot reload under load: 20 reloads in a row while wrk drives keep-alive traffic lose no
request and reset no connection, and a WebSocket-style tunnel opened before them stays open
and working throughout."""
import re
import shutil
import signal
import socket
import subprocess
import time

from lbdtest import Lbd, LbdTestCase, TcpServer, Upstream, main


def ws_echo(conn, index):
    """Answers an Upgrade request with 101, then echoes every byte until the peer closes."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data:
            return
        head += data
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        conn.sendall(rest)
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class HotReload(LbdTestCase):
    def config(self, ups, ws, generation):
        # Each reload really changes something (timeouts, a weight), so every one builds and
        # installs a new snapshot.
        return ("workers: 2\n"
                "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
                "    idle_timeout: %ds\n"
                "    routes:\n      - match: { path_prefix: /ws }\n        backend: ws\n"
                "    backend: app\n"
                "backends:\n  - name: app\n    connect_timeout: %dms\n    servers:\n"
                "      - { name: a, address: %s, weight: %d }\n"
                "      - { name: b, address: %s }\n"
                "  - name: ws\n    servers: [%s]\n"
                % (60 + generation, 2000 + generation, ups[0].address, 1 + generation % 3,
                   ups[1].address, ws.address))

    def test_twenty_reloads_under_load_and_an_open_websocket(self):
        wrk = shutil.which("wrk")
        self.assertIsNotNone(wrk, "wrk (Debian package) is needed")
        ups = [Upstream("u0"), Upstream("u1")]
        ws = TcpServer(ws_echo)
        try:
            with Lbd(["--config", "{config}"], self.config(ups, ws, 0)) as lbd:
                tunnel = socket.create_connection(("127.0.0.1", lbd.port), timeout=10)
                tunnel.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                               b"Connection: Upgrade\r\n\r\n")
                got = b""
                while b"\r\n\r\n" not in got:
                    got += tunnel.recv(4096)
                self.assertTrue(got.startswith(b"HTTP/1.1 101"), got)

                load = subprocess.Popen(
                    [wrk, "-t1", "-c8", "-d6s", "http://127.0.0.1:%d/" % lbd.port],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                time.sleep(0.5)
                for g in range(1, 21):
                    with open(lbd.config_path, "w") as f:
                        f.write(self.config(ups, ws, g))
                    lbd.send_signal(signal.SIGHUP)
                    lbd.wait_log("(generation %d)" % (g + 1))
                    msg = b"ping %d\n" % g
                    tunnel.sendall(msg)
                    echoed = b""
                    while len(echoed) < len(msg):
                        echoed += tunnel.recv(4096)
                    self.assertEqual(echoed, msg, "the tunnel broke at reload %d" % g)
                    time.sleep(0.15)
                out, _ = load.communicate(timeout=30)
                self.assertEqual(load.returncode, 0, out)
                m = re.search(r"(\d+) requests in", out)
                self.assertIsNotNone(m, out)
                self.assertGreater(int(m.group(1)), 200, out)
                self.assertNotIn("Socket errors", out)  # no connect/read/write error, no timeout
                self.assertNotIn("Non-2xx", out)
                self.assertNotIn("reload failed", lbd.log())
                tunnel.sendall(b"still here\n")
                self.assertEqual(tunnel.recv(4096), b"still here\n")
                tunnel.close()
                self.assertEqual(lbd.stop(), 0)
        finally:
            for u in ups:
                u.close()
            ws.close()

    def test_removing_the_route_and_backend_of_a_tunnel_closes_it_after_the_grace(self):
        ups = [Upstream("u0"), Upstream("u1")]
        ws = TcpServer(ws_echo)
        try:
            text = "reload_grace: 1500ms\n" + self.config(ups, ws, 0)
            with Lbd(["--config", "{config}"], text) as lbd:
                tunnels = []
                for _ in range(2):
                    t = socket.create_connection(("127.0.0.1", lbd.port), timeout=10)
                    t.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\n\r\n")
                    self.assertTrue(t.recv(4096).startswith(b"HTTP/1.1 101"))
                    tunnels.append(t)
                # Same config again: the tunnels' route and backend stay, nothing is cut.
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("(generation 2)")
                gone = self.config(ups, ws, 0).replace(
                    "    routes:\n      - match: { path_prefix: /ws }\n        backend: ws\n", "")
                gone = gone[:gone.index("  - name: ws")]
                with open(lbd.config_path, "w") as f:
                    f.write("reload_grace: 1500ms\n" + gone)
                start = time.monotonic()
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("(generation 3)")
                t = tunnels[0]
                t.sendall(b"during the grace\n")
                self.assertEqual(t.recv(4096), b"during the grace\n")
                t.settimeout(5)
                self.assertEqual(t.recv(4096), b"")  # closed by lbd once the grace is over
                waited = time.monotonic() - start
                self.assertGreater(waited, 1.3)
                self.assertLess(waited, 3.5)
                self.assertIn("a reload removed (reload_grace over)", lbd.log())
                for t in tunnels:
                    t.close()
                self.assertEqual(lbd.stop(), 0)
        finally:
            for u in ups:
                u.close()
            ws.close()


if __name__ == "__main__":
    main()
