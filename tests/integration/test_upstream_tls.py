"""TLS from lbd to its servers (a backend's `tls:` block): verification against a CA bundle,
SNI, client certificates, pooling with the TLS state, session resumption, HTTP/2 clients, h2
over TLS to `protocol: h2` servers, config errors and health checks over TLS.

The servers are Python `ssl` servers (threads, ephemeral loopback ports) and nghttpd; the
certificates are made at test time with the openssl CLI."""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

from lbdtest import Lbd, LbdTestCase, free_port, main, run_lbd

OPENSSL = shutil.which("openssl")


def run(args, stdin=b"", timeout=30):
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


class Pki:
    """A test CA and a second, unrelated one; leaf certificates signed by either."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="utlstest-")
        self.dir = self.tmp.name
        self.ca = self.make_ca("ca", "Test CA")
        self.other_ca = self.make_ca("other", "Other CA")
        self.server = self.leaf("server", "up.test", "DNS:up.test,IP:127.0.0.1")
        self.stranger = self.leaf("stranger", "up.test", "DNS:up.test", ca=self.other_ca)
        self.client = self.leaf("client", "lbd-client", "", usage="clientAuth")
        self.client2 = self.leaf("client2", "someone-else", "", usage="clientAuth")

    def path(self, name):
        return os.path.join(self.dir, name)

    def ossl(self, args):
        code, out = run([OPENSSL] + args)
        if code != 0:
            raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), out))

    def make_ca(self, name, cn):
        crt, key = self.path(name + "-ca.pem"), self.path(name + "-ca.key")
        self.ossl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=" + cn, "-days", "2"])
        return crt, key

    def leaf(self, name, cn, sans, ca=None, usage="serverAuth"):
        ca_crt, ca_key = ca or self.ca
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        ext, crt = self.path(name + ".ext"), self.path(name + ".pem")
        self.ossl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-out", key])
        self.ossl(["req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr])
        with open(ext, "w") as f:
            if sans:
                f.write("subjectAltName=%s\n" % sans)
            f.write("extendedKeyUsage=%s\n" % usage)
        self.ossl(["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                   "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt])
        return crt, key


PKI = None


def pki():
    global PKI
    if PKI is None:
        PKI = Pki()
    return PKI


class TlsUpstream:
    """An HTTP/1.1 server over TLS on an ephemeral loopback port.

    Records per accepted connection: the SNI name, whether the session was resumed, the client
    certificate's subject CN. Answers each request with 200 and a body saying how many body
    bytes it got and their SHA-256; `close_after` closes a connection after that many responses.
    """

    def __init__(self, cert, client_ca=None, close_after=0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert)
        if client_ca:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.sni = []
        self.ctx.sni_callback = lambda sslsock, name, ctx: self.sni.append(name) and None
        self.close_after = close_after
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.accepts = 0
        self.handshakes = []  # (resumed, client subject CN or None) per completed handshake
        self.requests = 0
        self.paths = []
        self.closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepts += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(10)
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        try:
            cert = conn.getpeercert()
            cn = None
            if cert:
                cn = dict(x[0] for x in cert["subject"]).get("commonName")
            with self.lock:
                self.handshakes.append((conn.session_reused, cn))
            buf, served = b"", 0
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                with self.lock:
                    self.paths.append(head.split(b" ")[1] if b" " in head else b"")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(buf) < n:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:n], buf[n:]
                served += 1
                with self.lock:
                    self.requests += 1
                last = self.close_after and served >= self.close_after
                answer = b"%d %s cn=%s\n" % (n, hashlib.sha256(body).hexdigest().encode(),
                                             (cn or "-").encode())
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
                             % (len(answer), b"Connection: close\r\n" if last else b"", answer))
                if last:
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def backend_yaml(up, tls, extra=""):
    lines = ["  - name: app", "    servers: [%s]" % up.address, "    tls:"]
    lines += ["      " + l for l in tls.strip("\n").split("\n")]
    if extra:
        lines += ["    " + l for l in extra.strip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def config(backends, h2c=False, workers=1):
    return ("workers: %d\nlog_level: debug\nlisteners:\n"
            "  - name: web\n    address: 127.0.0.1:0\n    backend: app\n%s"
            "backends:\n%s") % (workers, "    http2: { h2c: true }\n" if h2c else "", backends)


def request(port, method="GET", path="/", body=b"", timeout=10):
    """One request on a new client connection: (status, body)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body or None,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class UpstreamTlsTest(LbdTestCase):

    def setUp(self):
        self.p = pki()
        self.ups = []

    def tearDown(self):
        for u in self.ups:
            u.close()

    def upstream(self, cert=None, **kw):
        u = TlsUpstream(cert or self.p.server, **kw)
        self.ups.append(u)
        return u

    def test_get_and_1mib_post_with_sni(self):
        up = self.upstream()
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            status, body = request(lbd.port)
            self.assertEqual(status, 200, lbd.log())
            self.assertTrue(body.startswith(b"0 "), body)
            blob = os.urandom(1024 * 1024)
            status, body = request(lbd.port, "POST", "/upload", blob)
            self.assertEqual(status, 200)
            self.assertEqual(body.split()[:2],
                             [b"1048576", hashlib.sha256(blob).hexdigest().encode()])
            self.assertEqual(set(up.sni), {"up.test"})
            self.assertEqual(lbd.stop(), 0)

    def test_ip_address_is_verified_without_sni(self):
        # No sni: the server is written as an IP, so none is sent and the certificate's IP
        # entry is what gets verified.
        up = self.upstream()
        cfg = config(backend_yaml(up, "ca: %s" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 200, lbd.log())
            self.assertEqual(up.sni, [None])

    def test_keep_alive_pool_reuses_one_tls_connection(self):
        up = self.upstream()
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            for i in range(20):
                status, _ = request(lbd.port, path="/r%d" % i)
                self.assertEqual(status, 200)
            self.assertEqual(up.requests, 20)
            self.assertEqual(up.accepts, 1)
            self.assertEqual(len(up.handshakes), 1)

    def test_session_resumed_on_a_new_connection(self):
        up = self.upstream(close_after=1)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            for _ in range(3):
                self.assertEqual(request(lbd.port)[0], 200)
            self.assertEqual(up.accepts, 3)
            self.assertEqual([h[0] for h in up.handshakes], [False, True, True])

    def test_session_reuse_off(self):
        up = self.upstream(close_after=1)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test\nsession_reuse: false" %
                                  self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            for _ in range(2):
                self.assertEqual(request(lbd.port)[0], 200)
            self.assertEqual([h[0] for h in up.handshakes], [False, False])

    def test_certificate_of_another_ca_is_refused(self):
        up = self.upstream(self.p.stranger)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]))
        cfg = cfg.replace("log_level: debug\n",
                          "log_level: debug\nmetrics: { address: 127.0.0.1:0 }\n")
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 502)
            lbd.wait_log("TLS handshake with app/app-1")
            self.assertRegex(lbd.log(), r"TLS handshake with app/app-1 \(127\.0\.0\.1\) failed: "
                                        r"certificate verify failed: unable to get local issuer")
            self.assertEqual(up.requests, 0)
            # Counted as a failed connect of that server (one per attempt: no other server).
            mport = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", lbd.log()).group(1))
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5) as r:
                text = r.read().decode()
            m = re.search(
                r'fulcrum_server_connect_failures_total\{[^}]*server="app-1"[^}]*\} (\S+)', text)
            self.assertIsNotNone(m, text)
            self.assertGreaterEqual(float(m.group(1)), 1)

    def test_name_mismatch_is_refused_and_verify_false_accepts(self):
        up = self.upstream()
        cfg = config(backend_yaml(up, "ca: %s\nsni: other.test" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 502)
            lbd.wait_log("hostname mismatch")
        cfg = config(backend_yaml(up, "ca: %s\nsni: other.test\nverify: false" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 200, lbd.log())
        # Nor is the other CA's certificate checked then.
        stranger = self.upstream(self.p.stranger)
        cfg = config(backend_yaml(stranger, "verify: false"))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 200, lbd.log())

    def test_system_trust_store_refuses_a_private_ca(self):
        up = self.upstream()
        cfg = config(backend_yaml(up, "sni: up.test"))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 502)
            lbd.wait_log("certificate verify failed")

    def test_client_certificate(self):
        up = self.upstream(client_ca=self.p.ca[0])
        cert, key = self.p.client
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test\ncert: %s\nkey: %s"
                                  % (self.p.ca[0], cert, key)))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            status, body = request(lbd.port)
            self.assertEqual(status, 200, lbd.log())
            self.assertTrue(body.endswith(b"cn=lbd-client\n"), body)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 502)
            # TLS 1.3: the server refuses the (missing) certificate after the handshake.
            lbd.wait_log("app/app-1 failed")
            self.assertRegex(lbd.log(), r"WARN .*TLS \S+ \S+ app/app-1 failed: ")

    def test_websocket_style_tunnel_over_tls(self):
        """An Upgrade answered with 101: bytes both ways through the TLS connection."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.p.server)
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]

        def serve():
            raw, _ = srv.accept()
            conn = ctx.wrap_socket(raw, server_side=True)
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n\r\n")
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data.upper())
            conn.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        cfg = config("  - name: app\n    servers: [127.0.0.1:%d]\n    tls: { ca: %s }\n"
                     % (port, self.p.ca[0]))
        try:
            with Lbd(["--config", "{config}"], cfg) as lbd:
                c = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
                c.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\n\r\n")
                got = b""
                while b"\r\n\r\n" not in got:
                    got += c.recv(4096)
                self.assertTrue(got.startswith(b"HTTP/1.1 101"), got)
                c.sendall(b"hello tunnel")
                echoed = b""
                while len(echoed) < 12:
                    echoed += c.recv(4096)
                self.assertEqual(echoed, b"HELLO TUNNEL")
                c.close()
        finally:
            srv.close()

    def test_h2_client_to_tls_http1_server(self):
        curl = shutil.which("curl")
        if curl is None:
            self.skipTest("no curl")
        up = self.upstream()
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0]), h2c=True)
        with Lbd(["--config", "{config}"], cfg) as lbd:
            blob = os.urandom(300 * 1024)
            p = subprocess.run([curl, "-sS", "--http2-prior-knowledge", "--data-binary", "@-",
                                "-w", "\n%{http_code} %{http_version}",
                                "http://127.0.0.1:%d/up" % lbd.port], input=blob,
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            body, _, tail = p.stdout.rpartition(b"\n")
            self.assertEqual(tail, b"200 2")
            self.assertEqual(body.split()[:2],
                             [b"307200", hashlib.sha256(blob).hexdigest().encode()])
            # Later streams (of other h2 connections) reuse the pooled TLS connection.
            for i in range(5):
                p = subprocess.run([curl, "-sS", "--http2-prior-knowledge",
                                    "http://127.0.0.1:%d/n%d" % (lbd.port, i)],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(up.accepts, 1)
            self.assertEqual(up.requests, 6)

    def test_h2_backend_over_tls_with_trailers(self):
        """`protocol: h2` + tls: nghttpd over TLS (ALPN h2), a gRPC-style trailer."""
        nghttpd, curl = shutil.which("nghttpd"), shutil.which("curl")
        if nghttpd is None or curl is None:
            self.skipTest("no nghttpd or curl")
        docroot = tempfile.TemporaryDirectory(prefix="utlsh2-")
        blob = os.urandom(100 * 1024)
        with open(os.path.join(docroot.name, "blob"), "wb") as f:
            f.write(blob)
        port = free_port()
        srv = subprocess.Popen([nghttpd, "--echo-upload", "--trailer", "grpc-status: 0",
                                "--address", "127.0.0.1", "-d", docroot.name, str(port),
                                self.p.server[1], self.p.server[0]],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            plain_h1 = self.upstream()  # a TLS server without h2: must be refused clearly
            cfg = config("  - name: app\n    protocol: h2\n    servers: [127.0.0.1:%d]\n"
                         "    tls: { ca: %s, sni: up.test }\n"
                         "  - name: noh2\n    protocol: h2\n    servers: [%s]\n"
                         "    tls: { ca: %s, sni: up.test }\n"
                         % (port, self.p.ca[0], plain_h1.address, self.p.ca[0]), h2c=True)
            cfg = cfg.replace("    backend: app\n", "    backend: app\n    routes:\n"
                              "      - { match: { path_prefix: /noh2 }, backend: noh2 }\n")
            with Lbd(["--config", "{config}"], cfg) as lbd:
                url = "http://127.0.0.1:%d" % lbd.port
                p = subprocess.run([curl, "-sS", "--http2-prior-knowledge", url + "/blob"],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, blob)
                nghttp = shutil.which("nghttp")
                if nghttp is not None:
                    p = subprocess.run([nghttp, "-v", url + "/blob"], capture_output=True,
                                       timeout=30)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    # The trailer arrives in a HEADERS frame with END_STREAM after the DATA.
                    trailer = p.stdout.rindex(b"grpc-status: 0")
                    self.assertGreater(trailer, p.stdout.rindex(b"recv DATA frame"))
                body = os.urandom(300 * 1024)
                p = subprocess.run([curl, "-sS", "--http2-prior-knowledge", "--data-binary", "@-",
                                    url + "/echo"], input=body, capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(hashlib.sha256(p.stdout).hexdigest(),
                                 hashlib.sha256(body).hexdigest())
                p = subprocess.run([curl, "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                                    "-w", "%{http_code}", url + "/noh2"],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.stdout, b"502", p.stderr)
                lbd.wait_log("did not select h2")
        finally:
            srv.terminate()
            srv.wait(10)
            docroot.cleanup()

    def test_health_check_over_tls(self):
        up = self.upstream(self.p.stranger)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % self.p.ca[0], extra=(
            "health_check: { type: http, path: /health, interval: 200ms, timeout: 150ms, "
            "rise: 1, fall: 1 }")))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            lbd.wait_log("server app/app-1 is DOWN")
            self.assertRegex(lbd.log(), r"is DOWN: .*TLS handshake: certificate verify failed")
            self.assertEqual(request(lbd.port)[0], 503)
            # The server gets a certificate lbd trusts: the next check passes.
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.p.server)
            up.ctx = ctx
            lbd.wait_log("server app/app-1 is UP")
            self.assertEqual(request(lbd.port)[0], 200)
            with up.lock:
                self.assertIn(b"/health", b"".join(up.paths))

    def test_config_errors_name_the_line(self):
        up = self.upstream()
        tmp = tempfile.TemporaryDirectory(prefix="utlscfg-")
        path = os.path.join(tmp.name, "lbd.yaml")

        def check(tls_yaml):
            with open(path, "w") as f:
                f.write(config(backend_yaml(up, tls_yaml)))
            return run_lbd(["--check", path])

        code, _, err = check("ca: /nonexistent/ca.pem")
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"lbd\.yaml:11:\d+: backends\[0\]\.tls\.ca: cannot read CA bundle "
                              r"'/nonexistent/ca.pem': No such file or directory")
        code, _, err = check("cert: %s\nkey: %s" % (self.p.client[0], self.p.client2[1]))
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"lbd\.yaml:12:\d+: backends\[0\]\.tls\.key: key '.*' does not "
                              r"match the certificate")
        code, _, err = check("cert: %s" % self.p.client[0])
        self.assertEqual(code, 2, err)
        self.assertIn("a client certificate needs key:", err)
        code, _, err = check("protocols: [tls1.4]")
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"lbd\.yaml:11:\d+: backends\[0\]\.tls\.protocols\[0\]: expected one "
                              r"of: tls1\.0, tls1\.1, tls1\.2, tls1\.3")
        code, _, err = check("ciphers: ECDHE+AESGCM:NOPE-CIPHER")
        self.assertEqual(code, 2, err)
        self.assertIn("unknown cipher 'NOPE-CIPHER'", err)
        # A tcp listener relays bytes: no TLS client there.
        with open(path, "w") as f:
            f.write("listeners:\n  - address: 127.0.0.1:0\n    mode: tcp\n    backend: app\n"
                    "backends:\n%s" % backend_yaml(up, "verify: false"))
        code, _, err = run_lbd(["--check", path])
        self.assertEqual(code, 2, err)
        self.assertRegex(err, r"lbd\.yaml:9:\d+: backends\[0\]\.tls: backend 'app' serves the "
                              r"tcp listener .*: tls applies to HTTP backends only")
        tmp.cleanup()

    def test_reload_rereads_files_and_a_bad_one_keeps_the_old(self):
        up = self.upstream()
        ca_copy = os.path.join(self.p.dir, "ca-copy.pem")
        shutil.copy(self.p.ca[0], ca_copy)
        cfg = config(backend_yaml(up, "ca: %s\nsni: up.test" % ca_copy))
        with Lbd(["--config", "{config}"], cfg) as lbd:
            self.assertEqual(request(lbd.port)[0], 200)
            with open(lbd.config_path, "w") as f:
                f.write(config(backend_yaml(up, "ca: /nonexistent/ca.pem\nsni: up.test")))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("reload failed")
            self.assertRegex(lbd.log(), r"lbd\.yaml:11:\d+: backends\[0\]\.tls\.ca: cannot read")
            self.assertEqual(request(lbd.port)[0], 200)
            # A CA bundle that does not cover the server any more: re-read on reload, so new
            # connections fail (the pooled one was made under the old context and is dropped).
            shutil.copy(self.p.other_ca[0], ca_copy)
            with open(lbd.config_path, "w") as f:
                f.write(cfg)
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("reloaded ")
            self.assertEqual(request(lbd.port)[0], 502)
            lbd.wait_log("certificate verify failed")
            self.assertEqual(lbd.stop(), 0)


if __name__ == "__main__":
    main()
