"""The Prometheus exporter through the real binary: counters move with traffic, the text passes
`promtool check metrics`, and reloads are counted."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

from lbdtest import Lbd, LbdTestCase, TcpServer, Upstream, http_request, main


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def value(text, name, **labels):
    """The sample of `name` whose labels include `labels`; None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-z_:]+)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def metrics_port(lbd):
    lbd.wait_log("metrics on")
    m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", lbd.log())
    return int(m.group(1))


class Exporter(LbdTestCase):
    def setUp(self):
        self.ups = [Upstream("u0"), Upstream("u1")]
        self.text = ("workers: 2\nmetrics: { address: 127.0.0.1:0 }\n"
                     "listeners:\n  - name: web\n    address: 127.0.0.1:0\n"
                     "    routes:\n      - match: { path_prefix: /app }\n"
                     "        backend: app\n"
                     "backends:\n  - name: app\n"
                     "    servers:\n      - { name: a, address: %s }\n"
                     "      - { name: b, address: %s }\n" % (self.ups[0].address,
                                                             self.ups[1].address))

    def tearDown(self):
        for u in self.ups:
            u.close()

    def test_counters_follow_traffic_and_promtool_accepts_the_text(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            port = metrics_port(lbd)
            for _ in range(10):
                resp = http_request(lbd.port, b"GET /app HTTP/1.1\r\nHost: t\r\n"
                                              b"Connection: close\r\n\r\n")
                self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
            for _ in range(3):
                resp = http_request(lbd.port, b"GET /elsewhere HTTP/1.1\r\nHost: t\r\n"
                                              b"Connection: close\r\n\r\n")
                self.assertTrue(resp.startswith(b"HTTP/1.1 404"), resp)
            resp = http_request(lbd.port, b"GET /app HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n")
            self.assertTrue(resp.startswith(b"HTTP/1.1 400"), resp)

            text = scrape(port)
            self.assertEqual(value(text, "fulcrum_connections_total", listener="web"), 14)
            self.assertEqual(value(text, "fulcrum_http_responses_total", listener="web",
                                   code_class="2xx"), 10)
            self.assertEqual(value(text, "fulcrum_http_responses_total", listener="web",
                                   code_class="4xx"), 4)
            self.assertEqual(value(text, "fulcrum_http_local_responses_total", listener="web",
                                   reason="no_route"), 3)
            self.assertEqual(value(text, "fulcrum_http_local_responses_total", listener="web",
                                   reason="bad_request"), 1)
            self.assertEqual(value(text, "fulcrum_http_request_duration_seconds_count",
                                   listener="web"), 13)
            self.assertEqual(value(text, "fulcrum_http_request_duration_seconds_bucket",
                                   listener="web", le="+Inf"), 13)
            self.assertEqual(value(text, "fulcrum_backend_requests_total", backend="app"), 10)
            self.assertEqual(value(text, "fulcrum_route_requests_total", listener="web",
                                   route="route-1"), 10)
            self.assertEqual(value(text, "fulcrum_upstream_response_seconds_count",
                                   backend="app"), 10)
            for s in ("a", "b"):
                self.assertEqual(value(text, "fulcrum_server_responses_total", backend="app",
                                       server=s, code_class="2xx"), 5)
                self.assertEqual(value(text, "fulcrum_server_up", backend="app", server=s), 1)
                self.assertEqual(value(text, "fulcrum_server_active_exchanges", backend="app",
                                       server=s), 0)
                self.assertGreater(value(text, "fulcrum_server_sent_bytes_total", backend="app",
                                         server=s), 0)
            self.assertGreater(value(text, "fulcrum_received_bytes_total", listener="web"), 300)
            # The session of the last connection may end just after the client saw its EOF.
            deadline = time.time() + 3
            while value(text, "fulcrum_connections_open", listener="web") != 0:
                self.assertLess(time.time(), deadline, "a connection stays counted as open")
                time.sleep(0.05)
                text = scrape(port)
            self.assertEqual(value(text, "fulcrum_config_reloads_total", result="success"), 1)
            self.assertEqual(value(text, "fulcrum_build_info"), 1)
            self.assertGreaterEqual(value(text, "fulcrum_upstream_connections_idle"), 1)

            promtool = shutil.which("promtool")
            self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is needed")
            check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True, timeout=30)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.check_dashboard(promtool, text)
            self.assertEqual(lbd.stop(), 0)

    def check_dashboard(self, promtool, scraped):
        """The Grafana dashboard asks only for metrics lbd exports, in valid PromQL."""
        path = os.path.join(os.path.dirname(__file__), "..", "..", "dashboards", "fulcrum.json")
        with open(path) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        exported = set(re.findall(r"^(fulcrum_\w+)", scraped, re.M))
        for e in exprs:
            for name in re.findall(r"\b(fulcrum_\w+)", e):
                self.assertIn(name, exported, "the dashboard asks for %s" % name)
        # Grafana's variables made concrete, the expressions must parse as recording rules.
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard:expr%d" % i,
             "expr": e.replace("$__rate_interval", "1m").replace("$instance", ".*")}
            for i, e in enumerate(exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            json.dump(rules, f)  # JSON is YAML
        try:
            check = subprocess.run([promtool, "check", "rules", f.name], capture_output=True,
                                   timeout=30)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        finally:
            os.unlink(f.name)

    def test_a_dead_server_and_reloads_show(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            port = metrics_port(lbd)
            self.ups[1].close()
            for _ in range(4):
                http_request(lbd.port, b"GET /app HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            text = scrape(port)
            self.assertGreaterEqual(value(text, "fulcrum_server_connect_failures_total",
                                          backend="app", server="b"), 2)
            self.assertGreaterEqual(value(text, "fulcrum_backend_retries_total", backend="app"), 2)

            path = lbd.config_path
            good = open(path).read()
            with open(path, "w") as f:
                f.write(good.replace("backends:", "backendz:"))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("reload failed")
            with open(path, "w") as f:
                f.write(good)
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("(generation 2)")
            text = scrape(port)
            self.assertEqual(value(text, "fulcrum_config_reloads_total", result="failure"), 1)
            self.assertEqual(value(text, "fulcrum_config_reloads_total", result="success"), 2)
            # Counters carry on across the reload.
            self.assertGreaterEqual(value(text, "fulcrum_server_connect_failures_total",
                                          backend="app", server="b"), 2)
            self.assertEqual(lbd.stop(), 0)

    def test_udp_flows_and_datagrams(self):
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        echo.bind(("127.0.0.1", 0))
        stop = threading.Event()

        def serve():
            echo.settimeout(0.1)
            while not stop.is_set():
                try:
                    data, peer = echo.recvfrom(2048)
                except socket.timeout:
                    continue
                echo.sendto(data, peer)
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            with Lbd(["proxy", "--mode", "udp", "--listen", "127.0.0.1:0", "--to",
                      "127.0.0.1:%d" % echo.getsockname()[1], "--metrics", "127.0.0.1:0",
                      "--workers", "1"]) as lbd:
                port = metrics_port(lbd)
                clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
                for c in clients:
                    c.settimeout(5)
                    for i in range(2):
                        c.sendto(b"q%d" % i, ("127.0.0.1", lbd.port))
                        self.assertEqual(c.recvfrom(2048)[0], b"q%d" % i)
                text = scrape(port)
                self.assertEqual(value(text, "fulcrum_udp_flows_total", event="created"), 3)
                self.assertEqual(value(text, "fulcrum_udp_flows_open"), 3)
                self.assertEqual(value(text, "fulcrum_udp_datagrams_total",
                                       direction="from_clients"), 6)
                self.assertEqual(value(text, "fulcrum_udp_datagrams_total",
                                       direction="to_clients"), 6)
                check = subprocess.run([shutil.which("promtool"), "check", "metrics"],
                                       input=text.encode(), capture_output=True, timeout=30)
                self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
                for c in clients:
                    c.close()
                self.assertEqual(lbd.stop(), 0)
        finally:
            stop.set()
            t.join()
            echo.close()

    def test_tcp_sessions_and_bytes(self):
        def echo(conn, index):
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        up = TcpServer(echo)
        try:
            with Lbd(["proxy", "--mode", "tcp", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--metrics", "127.0.0.1:0", "--workers", "2"]) as lbd:
                port = metrics_port(lbd)
                for _ in range(2):
                    c = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
                    c.sendall(b"x" * 1000)
                    got = b""
                    while len(got) < 1000:
                        got += c.recv(65536)
                    c.close()
                deadline = time.time() + 5
                while True:  # the sessions end once lbd has seen both closes
                    text = scrape(port)
                    if value(text, "fulcrum_connections_open", listener="proxy") == 0:
                        break
                    self.assertLess(time.time(), deadline, text)
                    time.sleep(0.05)
                self.assertEqual(value(text, "fulcrum_connections_total", listener="proxy"), 2)
                self.assertEqual(value(text, "fulcrum_received_bytes_total", listener="proxy"),
                                 2000)
                self.assertEqual(value(text, "fulcrum_sent_bytes_total", listener="proxy"), 2000)
                self.assertEqual(value(text, "fulcrum_server_sent_bytes_total", backend="proxy",
                                       server="s1"), 2000)
                self.assertEqual(value(text, "fulcrum_server_active_exchanges", backend="proxy",
                                       server="s1"), 0)
                up.close()
                # A connect refused everywhere: counted against the server, the client refused.
                try:
                    with socket.create_connection(("127.0.0.1", lbd.port), timeout=5) as c:
                        self.assertEqual(c.recv(10), b"")  # closed (or reset) at once
                except ConnectionResetError:
                    pass
                text = scrape(port)
                self.assertGreaterEqual(value(text, "fulcrum_server_connect_failures_total",
                                              backend="proxy", server="s1"), 1)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()

    def test_quick_mode_flag(self):
        with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", self.ups[0].address,
                  "--metrics", "127.0.0.1:0", "--workers", "1"]) as lbd:
            port = metrics_port(lbd)
            http_request(lbd.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            text = scrape(port)
            self.assertEqual(value(text, "fulcrum_http_responses_total", listener="proxy",
                                   code_class="2xx"), 1)
            self.assertEqual(lbd.stop(), 0)


if __name__ == "__main__":
    main()
