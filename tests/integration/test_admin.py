"""The admin API over its Unix socket, against the real daemon: every command, and that
changes (drain, disable, weight) reach traffic at once, including kept-alive connections."""
import collections
import json
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import tempfile
import time

from lbdtest import Lbd, LbdTestCase, Upstream, http_request, main


class Admin:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def raw(self, line):
        self.sock.sendall(line + b"\n")
        return json.loads(self.file.readline())

    def __call__(self, cmd):
        return self.raw(json.dumps({"v": 1, "cmd": cmd}).encode())

    def close(self):
        self.file.close()
        self.sock.close()


def body(resp):
    return resp.split(b"\r\n\r\n", 1)[1].decode()


class Daemon(LbdTestCase):
    """Three upstreams behind a 2-worker lbd with its admin socket in a private directory."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="lbdadmin-")
        self.path = os.path.join(self.tmp.name, "run", "admin.sock")
        self.ups = [Upstream("u%d" % i) for i in range(3)]
        servers = "".join("      - { name: s%d, address: %s }\n" % (i, u.address)
                          for i, u in enumerate(self.ups))
        self.text = ("workers: 2\nadmin: { socket: %s, mode: \"0600\" }\n"
                     "listeners:\n  - name: web\n    address: 127.0.0.1:0\n    backend: app\n"
                     "backends:\n  - name: app\n    servers:\n%s" % (self.path, servers))

    def tearDown(self):
        for u in self.ups:
            u.close()
        self.tmp.cleanup()

    def spread(self, port, n=30):
        return collections.Counter(
            body(http_request(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
            .strip() for _ in range(n))


class AdminApi(Daemon):
    def test_every_command(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
            a = Admin(self.path)
            try:
                r = a("help")
                self.assertTrue(r["ok"])
                self.assertIn("drain server", [c["command"] for c in r["data"]])

                info = a("show info")["data"]
                self.assertEqual(info["workers"], 2)
                self.assertEqual(info["generation"], 1)
                self.assertEqual(len(info["config_hash"]), 16)
                self.assertEqual(info["pid"], lbd.proc.pid)

                self.assertEqual(self.spread(lbd.port, 6), {"u0": 2, "u1": 2, "u2": 2})
                stats = a("show stats")["data"]
                resp = [m for m in stats["fulcrum_http_responses_total"]
                        if m["labels"]["code_class"] == "2xx"]
                self.assertEqual(resp[0]["value"], 6)

                b = a("show backends")["data"]
                self.assertEqual((b[0]["name"], b[0]["servers"], b[0]["usable"]), ("app", 3, 3))
                servers = a("show servers app")["data"]
                self.assertEqual([s["name"] for s in servers], ["s0", "s1", "s2"])
                self.assertEqual(servers[0]["admin"], "enabled")
                self.assertEqual(a("show servers nope"),
                                 {"v": 1, "ok": False, "error": "no backend named 'nope'"})
                self.assertEqual(len(a("show health")["data"]), 3)
                lis = a("show listeners")["data"]
                self.assertEqual(lis[0]["name"], "web")
                self.assertEqual(lis[0]["address"], "127.0.0.1:%d" % lbd.port)
                self.assertIn("name: app", a("show config")["data"]["yaml"])

                http_request(lbd.port, b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
                errs = a("show errors")["data"]
                self.assertEqual(errs[-1]["status"], 400)
                self.assertEqual(errs[-1]["listener"], "web")

                # Drain and disable take s0 and s1 out at once; enable brings s0 back.
                self.assertEqual(a("drain server app/s0")["data"]["admin"], "drain")
                self.assertEqual(a("disable server app/s1")["data"]["admin"], "disabled")
                self.assertEqual(self.spread(lbd.port, 6), {"u2": 6})
                self.assertTrue(a("enable server app/s0")["ok"])
                self.assertEqual(self.spread(lbd.port, 6), {"u0": 3, "u2": 3})
                self.assertIn("drain -> enabled", lbd.log())

                r = a("set weight app/s2 3")
                self.assertEqual(r["data"]["weight"], 3)
                self.assertEqual(self.spread(lbd.port, 8), {"u0": 2, "u2": 6})
                # The override survives a reload, as does the admin state.
                self.assertEqual(a("reload")["data"]["generation"], 3)
                self.assertEqual(self.spread(lbd.port, 8), {"u0": 2, "u2": 6})

                for bad, why in [("set weight app/s2 0", "weight must be"),
                                 ("drain server app", "expected BACKEND/SERVER"),
                                 ("drain server zzz/s0", "no backend named 'zzz'"),
                                 ("frobnicate", "unknown command")]:
                    r = a(bad)
                    self.assertFalse(r["ok"], bad)
                    self.assertIn(why, r["error"])
                self.assertIn("one JSON object", a.raw(b"not json")["error"])
                self.assertIn("version", a.raw(b'{"v":2,"cmd":"help"}')["error"])
                self.assertIn("64 KiB", a.raw(b'{"v":1,"cmd":"' + b"x" * 70000 + b'"}')["error"])
            finally:
                a.close()
            self.assertEqual(lbd.stop(), 0)
        self.assertFalse(os.path.exists(self.path), "the socket file is removed at exit")

    def test_reload_reports_errors_and_keeps_running(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            a = Admin(self.path)
            try:
                with open(lbd.config_path, "w") as f:
                    f.write(self.text.replace("    backend: app\n", "    backend: apx\n"))
                r = a("reload")
                self.assertFalse(r["ok"])
                self.assertIn("no backend named 'apx'", " ".join(r["errors"]))
                self.assertEqual(a("show info")["data"]["generation"], 1)
                self.assertEqual(sum(self.spread(lbd.port, 3).values()), 3)
            finally:
                a.close()
            self.assertEqual(lbd.stop(), 0)

    def test_a_drain_reaches_kept_alive_connections(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            a = Admin(self.path)
            c = socket.create_connection(("127.0.0.1", lbd.port))
            f = c.makefile("rb")

            def ask():
                c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += f.readline()
                n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                        .split(b":")[1])
                return f.read(n).decode().strip()
            try:
                self.assertEqual(sorted(ask() for _ in range(3)), ["u0", "u1", "u2"])
                a("drain server app/s0")
                a("drain server app/s1")
                self.assertEqual({ask() for _ in range(4)}, {"u2"})
            finally:
                f.close()
                c.close()
                a.close()
            self.assertEqual(lbd.stop(), 0)

    def test_a_live_socket_is_not_taken_over(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            other = Lbd(["--config", "{config}"],
                        self.text.replace("127.0.0.1:0", "127.0.0.1:0"), wait_listen=False)
            self.assertEqual(other.proc.wait(timeout=15), 1)
            self.assertIn("another process is serving this socket", other.log())
            self.assertTrue(Admin(self.path)("show info")["ok"])
            self.assertEqual(lbd.stop(), 0)


LBCTL = os.environ.get("LBCTL", os.path.join(os.path.dirname(os.environ.get("LBD", "")), "lbctl"))


class Terminal:
    """lbctl on a pseudo-terminal, as an operator would run it."""

    def __init__(self, args, home):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["HOME"] = home
            os.environ["TERM"] = "xterm"
            os.execv(LBCTL, [LBCTL] + args)
        self.out = b""

    def type(self, keys):
        os.write(self.fd, keys)

    def expect(self, needle, timeout=10):
        deadline = time.time() + timeout
        while needle not in self.out:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("never saw %r in:\n%r" % (needle, self.out[-2000:]))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.out

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass  # it had quit, and was reaped
        os.close(self.fd)


class Lbctl(Daemon):
    def test_one_shot_commands_json_and_errors(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            run = lambda *a: subprocess.run([LBCTL, "-s", self.path] + list(a),
                                            capture_output=True, text=True, timeout=10)
            r = run("show", "servers")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.splitlines()
            self.assertTrue(lines[0].startswith("BACKEND  SERVER  ADDRESS"), lines)
            self.assertEqual(len(lines), 4)
            # Aligned: every row has STATE where the header has it, and no colour off a tty.
            col = lines[0].index("STATE")
            self.assertEqual([l[col:col + 2] for l in lines[1:]], ["up"] * 3)
            self.assertNotIn("\033", r.stdout)
            r = run("--json", "show", "info")
            self.assertEqual(json.loads(r.stdout)["data"]["workers"], 2)
            r = run("set", "weight", "app/s0", "999")
            self.assertEqual(r.returncode, 1)
            self.assertIn("weight must be", r.stderr)
            r = subprocess.run([LBCTL, "-s", os.path.join(self.tmp.name, "none.sock"), "show",
                                "info"], capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 3)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)  # one clear line
            self.assertIn("lbd is not running", r.stderr)
            os.chmod(self.path, 0o000)
            if os.geteuid() != 0:  # root ignores permissions
                r = run("show", "info")
                self.assertIn("permission denied", r.stderr)
            os.chmod(self.path, 0o600)
            self.assertEqual(lbd.stop(), 0)

    def test_shell_completes_a_server_name_and_drains_it(self):
        with Lbd(["--config", "{config}"], self.text) as lbd:
            home = os.path.join(self.tmp.name, "home")
            os.mkdir(home)
            t = Terminal(["-s", self.path], home)
            try:
                t.expect(b"[3/3 usable]> ")
                t.type(b"dra\t")
                t.expect(b"drain ")
                t.type(b"\t")
                t.expect(b"drain server ")
                t.type(b"app/s\t")  # ambiguous: lists the live names
                t.expect(b"app/s0  app/s1  app/s2")
                t.type(b"1\t")
                t.expect(b"drain server app/s1 ")
                t.type(b"\r")
                t.expect(b"[2/3 usable]> ")
                self.assertIn(b"drain", t.out.split(b"drain server app/s1")[-1])
                t.type(b"show ?")
                t.expect(b"the latest requests lbd refused")
                t.type(b"\x15quit\r")  # ^U clears the line
                deadline = time.time() + 5
                while time.time() < deadline:
                    done, _ = os.waitpid(t.pid, os.WNOHANG)
                    if done:
                        break
                    time.sleep(0.05)
            finally:
                t.close()
            a = Admin(self.path)
            servers = {s["name"]: s["admin"] for s in a("show servers")["data"]}
            a.close()
            self.assertEqual(servers, {"s0": "enabled", "s1": "drain", "s2": "enabled"})
            with open(os.path.join(home, ".lbctl_history")) as f:
                self.assertIn("drain\\040server\\040app/s1", f.read())
            self.assertEqual(lbd.stop(), 0)


if __name__ == "__main__":
    main()
