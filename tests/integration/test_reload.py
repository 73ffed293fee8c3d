"""Hot reload under load: 20 reloads in a row while wrk drives keep-alive traffic lose no
request and reset no connection, and a WebSocket-style tunnel opened before them stays open
and working throughout."""
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from lbdtest import (Lbd, LbdTestCase, Reader, TcpServer, Upstream, connect, exchange, free_port,
                     main)


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


def echo(conn, _index):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def get_status(port):
    resp, reader = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    reader.sock.close()
    return resp.status


class ListenerChanges(LbdTestCase):
    """Listeners added, removed and moved by a reload, without a restart."""

    def config(self, listeners, ups, echo_srv, grace="30s"):
        text = "workers: 2\nreload_grace: %s\nlisteners:\n" % grace
        for name, mode, port, backend in listeners:
            text += ("  - { name: %s, address: 127.0.0.1:%d, mode: %s, backend: %s }\n"
                     % (name, port, mode, backend))
        return text + ("backends:\n  - name: app\n    servers: [%s]\n"
                       "  - name: echo\n    servers: [%s]\n" % (ups[0].address, echo_srv.address))

    def reload(self, lbd, text, generation):
        with open(lbd.config_path, "w") as f:
            f.write(text)
        lbd.send_signal(signal.SIGHUP)
        lbd.wait_log("(generation %d)" % generation)

    def refused(self, port, within=2.0):
        """True once connecting to `port` is refused; the log line of a reload comes before
        every worker has closed its copy of a removed listener."""
        deadline = time.monotonic() + within
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except ConnectionRefusedError:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def test_added_listeners_of_each_mode_serve_and_removed_ones_close(self):
        ups = [Upstream("u0")]
        srv = TcpServer(echo)
        udp_up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_up.bind(("127.0.0.1", 0))
        udp_up.settimeout(5)
        p_web, p_api, p_tcp, p_udp = free_port(), free_port(), free_port(), free_port()
        try:
            first = [("web", "http", p_web, "app")]
            with Lbd(["--config", "{config}"], self.config(first, ups, srv)) as lbd:
                self.assertTrue(self.refused(p_api))
                kept = connect(p_web)  # a keep-alive connection across every reload below
                kept.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
                reader = Reader(kept)
                self.assertEqual(reader.read_response().status, 200)

                # Added: an HTTP, a TCP and a UDP listener.
                more = first + [("api", "http", p_api, "app"), ("raw", "tcp", p_tcp, "echo"),
                                ("dns", "udp", p_udp, "udpb")]
                text = self.config(more, ups, srv) + (
                    "  - name: udpb\n    servers: [127.0.0.1:%d]\n" % udp_up.getsockname()[1])
                self.reload(lbd, text, 2)
                self.assertIn("new listener api on 127.0.0.1:%d" % p_api, lbd.log())
                self.assertEqual(get_status(p_api), 200)
                t = socket.create_connection(("127.0.0.1", p_tcp), timeout=5)
                t.sendall(b"hello tcp")
                self.assertEqual(t.recv(100), b"hello tcp")
                t.close()
                c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                c.settimeout(5)
                c.sendto(b"q1", ("127.0.0.1", p_udp))
                data, lbd_addr = udp_up.recvfrom(100)
                self.assertEqual(data, b"q1")
                udp_up.sendto(b"a1", lbd_addr)
                self.assertEqual(c.recvfrom(100)[0], b"a1")
                c.close()
                kept.sendall(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(reader.read_response().status, 200)

                # Removed: "web" (the kept connection's listener), "raw" and "dns".
                self.reload(lbd, self.config([("api", "http", p_api, "app")], ups, srv), 3)
                self.assertTrue(self.refused(p_web))
                self.assertTrue(self.refused(p_tcp))
                self.assertTrue(reader.closed(), "an idle connection of a removed listener")
                self.assertEqual(get_status(p_api), 200)
                # The ports are free again: another program may take them.
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
                s.bind(("127.0.0.1", p_web))
                s.listen(1)
                s.close()
                self.assertIn("listener web closes (removed from the config)", lbd.log())
                self.assertIn("listener dns closes (removed from the config)", lbd.log())
                self.assertEqual(lbd.stop(), 0)
        finally:
            ups[0].close()
            srv.close()
            udp_up.close()

    def test_a_request_in_flight_on_a_removed_listener_finishes_then_the_connection_closes(self):
        release = threading.Event()

        def slow(conn, buf):
            if b"\r\n\r\n" not in buf:
                return buf
            release.wait(10)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
            return b""

        ups = [Upstream("slow", respond=slow)]
        srv = TcpServer(echo)
        p_web, p_api = free_port(), free_port()
        try:
            both = [("web", "http", p_web, "app"), ("api", "http", p_api, "app")]
            with Lbd(["--config", "{config}"], self.config(both, ups, srv)) as lbd:
                conn = connect(p_web)
                conn.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
                time.sleep(0.3)  # the request is upstream now
                self.reload(lbd, self.config([both[1]], ups, srv), 2)
                self.assertTrue(self.refused(p_web))
                release.set()
                reader = Reader(conn)
                resp = reader.read_response()
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.body, b"slow")
                self.assertEqual(resp.header("connection"), b"close")
                self.assertTrue(reader.closed())
                self.assertEqual(lbd.stop(), 0)
        finally:
            ups[0].close()
            srv.close()

    def test_a_port_in_use_fails_the_reload_and_the_old_listeners_stay(self):
        ups = [Upstream("u0")]
        srv = TcpServer(echo)
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        p_web = free_port()
        try:
            first = [("web", "http", p_web, "app")]
            with Lbd(["--config", "{config}"], self.config(first, ups, srv)) as lbd:
                bad = first + [("api", "http", taken.getsockname()[1], "app")]
                with open(lbd.config_path, "w") as f:
                    f.write(self.config(bad, ups, srv))
                lbd.send_signal(signal.SIGHUP)
                lbd.wait_log("reload failed")
                self.assertRegex(lbd.log(), r"lbd\.yaml:\d+:\d+: listeners\[1\]\.address: "
                                 r"cannot listen on 127\.0\.0\.1:%d" % taken.getsockname()[1])
                self.assertEqual(get_status(p_web), 200)
                # A later good reload still works, and moves "web" to another port.
                p_moved = free_port()
                self.reload(lbd, self.config([("web", "http", p_moved, "app")], ups, srv), 3)
                self.assertTrue(self.refused(p_web))
                self.assertEqual(get_status(p_moved), 200)
                self.assertEqual(lbd.stop(), 0)
        finally:
            ups[0].close()
            srv.close()
            taken.close()

    def test_a_tcp_session_of_a_removed_listener_is_cut_after_the_grace(self):
        ups = [Upstream("u0")]
        srv = TcpServer(echo)
        p_web, p_tcp = free_port(), free_port()
        try:
            both = [("web", "http", p_web, "app"), ("raw", "tcp", p_tcp, "echo")]
            with Lbd(["--config", "{config}"], self.config(both, ups, srv, "1s")) as lbd:
                t = socket.create_connection(("127.0.0.1", p_tcp), timeout=5)
                t.sendall(b"one")
                self.assertEqual(t.recv(100), b"one")
                start = time.monotonic()
                self.reload(lbd, self.config([both[0]], ups, srv, "1s"), 2)
                t.sendall(b"two")  # still relayed during the grace
                self.assertEqual(t.recv(100), b"two")
                self.assertEqual(t.recv(100), b"")
                waited = time.monotonic() - start
                self.assertGreater(waited, 0.8)
                self.assertLess(waited, 3.0)
                t.close()
                self.assertEqual(lbd.stop(), 0)
        finally:
            ups[0].close()
            srv.close()


if __name__ == "__main__":
    main()
