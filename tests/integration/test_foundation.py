"""Foundation: CLI, config checking, quick mode, signals, and balanced answers from demo servers."""
import collections
import os
import signal
import subprocess
import time

from lbdtest import Lbd, LbdTestCase, Upstream, http_request, main, run_lbd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

DEMO_CONFIG = """
workers: 2
listeners:
  - name: web
    address: 127.0.0.1:0
    backend: demo
backends:
  - name: demo
    servers:
      - { name: demo-1, kind: demo }
      - { name: demo-2, kind: demo }
      - { name: demo-3, kind: demo }
"""


class CommandLine(LbdTestCase):
    def test_version_and_help(self):
        code, out, _ = run_lbd(["--version"])
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^lbd \d+\.\d+\.\d+")
        code, out, _ = run_lbd(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("--check FILE", out)
        code, out, _ = run_lbd(["proxy", "--help"])
        self.assertEqual(code, 0)
        self.assertIn("--listen", out)

    def test_usage_errors_exit_2(self):
        for args in ([], ["--bogus"], ["--config"], ["proxy", "--listen", "127.0.0.1:0"]):
            code, _, err = run_lbd(args)
            self.assertEqual(code, 2, args)
            self.assertTrue(err.strip(), args)

    def test_check_accepts_quickstart(self):
        code, out, err = run_lbd(["--check", os.path.join(ROOT, "examples", "quickstart.yaml")])
        self.assertEqual(code, 0, err)
        self.assertIn("ok", out)

    def test_check_reports_three_mistakes_with_lines(self):
        bad = ("workers: auto\n"                          # 1
               "listeners:\n"                             # 2
               "  - name: web\n"                          # 3
               "    adress: 127.0.0.1:8080\n"             # 4  unknown key (typo)
               "    backend: demo\n"                      # 5
               "backends:\n"                              # 6
               "  - name: demo\n"                         # 7
               "    connect_timeout: soon\n"              # 8  bad duration
               "    servers:\n"                           # 9
               "      - address: localhost\n")            # 10 address without port
        with Lbd(["--version"], wait_listen=False) as holder:
            path = os.path.join(holder.tmp.name, "bad.yaml")
            with open(path, "w") as f:
                f.write(bad)
            holder.proc.wait()
            code, _, err = run_lbd(["--check", path])
        self.assertEqual(code, 2)
        self.assertRegex(err, r"bad\.yaml:4:\d+: listeners\[0\].*unknown key 'adress'; did you mean 'address'")
        self.assertRegex(err, r"bad\.yaml:8:\d+: backends\[0\]\.connect_timeout: ")
        self.assertRegex(err, r"bad\.yaml:10:\d+: backends\[0\]\.servers\[0\]\.address: ")

    def test_quick_mode_unsupported_flag_is_an_error(self):
        code, _, err = run_lbd(["proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1",
                                "--admin", "/tmp/x.sock"])
        self.assertEqual(code, 2)
        self.assertIn("--admin", err)
        self.assertIn("not available", err)

    def test_print_config_round_trips_through_check(self):
        code, out, err = run_lbd(["proxy", "--listen", "127.0.0.1:0", "--to",
                                  "127.0.0.1:9001,127.0.0.1:9002", "--workers", "3",
                                  "--upstream-timeout", "7s", "--print-config"])
        self.assertEqual(code, 0, err)
        self.assertIn("127.0.0.1:9002", out)
        self.assertIn("7s", out)
        with Lbd(["--version"], wait_listen=False) as holder:
            holder.proc.wait()
            path = os.path.join(holder.tmp.name, "printed.yaml")
            with open(path, "w") as f:
                f.write(out)
            code, _, err = run_lbd(["--check", path])
        self.assertEqual(code, 0, err)


class Balancing(LbdTestCase):
    def test_thirty_curls_split_ten_ten_ten(self):
        with Lbd(["--config", "{config}"], DEMO_CONFIG) as lbd:
            counts = collections.Counter()
            for _ in range(30):
                out = subprocess.run(["curl", "-sS", "--max-time", "5",
                                      "http://127.0.0.1:%d/" % lbd.port],
                                     capture_output=True, check=True).stdout.decode()
                counts[out.splitlines()[0]] += 1
            self.assertEqual(counts, {"demo-1": 10, "demo-2": 10, "demo-3": 10})
            self.assertEqual(lbd.stop(signal.SIGINT), 0)
            self.assertNotIn("Sanitizer", lbd.log())

    def test_quick_mode_proxies_to_real_upstreams(self):
        a, b = Upstream("a"), Upstream("b")
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", a.address, "--to", b.address,
                      "--workers", "1"]) as lbd:
                seen = collections.Counter()
                for _ in range(4):
                    resp = http_request(lbd.port, b"GET /x HTTP/1.1\r\nHost: t\r\n"
                                                  b"Connection: close\r\n\r\n")
                    self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
                    seen[resp.rsplit(b"\n", 2)[-2]] += 1
                self.assertEqual(seen, {b"a": 2, b"b": 2})
                self.assertEqual(lbd.stop(), 0)
        finally:
            a.close()
            b.close()


class Signals(LbdTestCase):
    def test_sighup_with_bad_config_keeps_running(self):
        with Lbd(["--config", "{config}"], DEMO_CONFIG) as lbd:
            with open(lbd.config_path, "w") as f:
                f.write(DEMO_CONFIG.replace("backend: demo", "backend: nowhere"))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("still running the previous config")
            resp = http_request(lbd.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp)
            # A good config is taken.
            with open(lbd.config_path, "w") as f:
                f.write(DEMO_CONFIG)
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("(generation 2)")
            self.assertEqual(lbd.stop(), 0)

    def test_sigterm_lets_in_flight_request_finish(self):
        def slow(conn, buf):
            if b"\r\n\r\n" in buf:
                time.sleep(1.0)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
                return b""
            return buf
        up = Upstream("slow", respond=slow)
        try:
            with Lbd(["proxy", "--listen", "127.0.0.1:0", "--to", up.address,
                      "--workers", "1"]) as lbd:
                import socket
                s = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                time.sleep(0.3)
                lbd.send_signal(signal.SIGTERM)
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                s.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
                self.assertIn(b"Connection: close", data)
                self.assertTrue(data.endswith(b"slow"), data)
                self.assertEqual(lbd.stop(), 0)
        finally:
            up.close()


if __name__ == "__main__":
    main()
