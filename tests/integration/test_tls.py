"""TLS termination with real clients: curl, openssl s_client and Python's ssl with strict
verification. Certificates are made at test time with the openssl CLI: a CA, ECDSA P-256 and
RSA 2048 certificates for a.test, an ECDSA one for *.b.test, and a client certificate."""
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

from lbdtest import Lbd, LbdTestCase, Upstream, main, run_lbd

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")


def run(args, stdin=b"", timeout=20):
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


class Pki:
    """Keys and certificates in a temporary directory."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="tlstest-")
        self.dir = self.tmp.name
        self.ca, self.ca_key = self.path("ca.pem"), self.path("ca.key")
        self.ossl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-subj", "/CN=Test CA",
                   "-days", "2"])
        self.a_ec = self.leaf("a-ec", "a.test", ["a.test"], "ec")
        self.a_rsa = self.leaf("a-rsa", "a.test", ["a.test"], "rsa")
        self.b_ec = self.leaf("b-ec", "wild.b.test", ["*.b.test"], "ec")
        self.client = self.leaf("client", "client1", [], "ec", usage="clientAuth")

    def path(self, name):
        return os.path.join(self.dir, name)

    def ossl(self, args):
        code, out = run([OPENSSL] + args)
        if code != 0:
            raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), out))
        return out

    def leaf(self, name, cn, sans, kind, usage="serverAuth"):
        """Returns (chain file: leaf then CA, key file)."""
        key = self.path(name + ".key")
        if kind == "ec":
            self.ossl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-out", key])
        else:
            self.ossl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                       "-out", key])
        csr, ext, crt = self.path(name + ".csr"), self.path(name + ".ext"), self.path(name + ".crt")
        self.ossl(["req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr])
        with open(ext, "w") as f:
            if sans:
                f.write("subjectAltName=" + ",".join("DNS:" + s for s in sans) + "\n")
            f.write("extendedKeyUsage=%s\n" % usage)
        self.ossl(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                   "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt])
        chain = self.path(name + ".pem")
        with open(chain, "w") as out:
            for part in (crt, self.ca):
                with open(part) as f:
                    out.write(f.read())
        return chain, key


PKI = None


def pki():
    global PKI
    if PKI is None:
        PKI = Pki()
    return PKI


def listener_yaml(p, extra_tls="", extra_listener="", certs=None, name="web"):
    certs = certs or [p.a_ec, p.a_rsa, p.b_ec]
    lines = ["  - name: %s" % name, "    address: 127.0.0.1:0", "    backend: app",
             "    tls:", "      certificates:"]
    for c in certs:
        lines.append("        - { cert: %s, key: %s%s }" % (c[0], c[1], c[2] if len(c) > 2 else ""))
    if extra_tls:
        lines += ["      " + l for l in extra_tls.strip("\n").split("\n")]
    if extra_listener:
        lines += ["    " + l for l in extra_listener.strip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def config(p, up, listeners, metrics=False):
    return ("workers: 2\nlog_level: debug\n" + ("metrics: { address: 127.0.0.1:0 }\n" if metrics else "")
            + "listeners:\n" + listeners
            + "backends:\n  - name: app\n    servers: [%s]\n" % up.address)


def s_client(port, args, stdin=b"", name="a.test"):
    return run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", name,
                "-CAfile", pki().ca] + args, stdin=stdin)


def https_get(port, name="a.test", path="/", headers=None, context=None):
    ctx = context or ssl.create_default_context(cafile=pki().ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                server_hostname=name)
    try:
        conn.request("GET", path, headers=dict({"Host": name}, **(headers or {})))
        r = conn.getresponse()
        body = r.read()
    except Exception:
        conn.close()
        raise
    return conn, r, body


def peer_cert(port, name):
    ctx = ssl.create_default_context(cafile=pki().ca)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                         server_hostname=name) as s:
        return s.getpeercert()


def subject_cn(cert):
    return dict(x[0] for x in cert["subject"])["commonName"]


def metric(port, name, labels):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Tls(LbdTestCase):
    @classmethod
    def setUpClass(cls):
        assert OPENSSL and CURL, "openssl and curl (Debian packages) are needed"
        pki()

    def setUp(self):
        self.up = Upstream("app")

    def tearDown(self):
        self.up.close()

    def start(self, listeners, metrics=False):
        return Lbd(["--config", "{config}"], config(pki(), self.up, listeners, metrics))

    def test_sni_sigalgs_protocols_and_strict_python_client(self):
        p = pki()
        with self.start(listener_yaml(p, extra_listener="hsts: { max_age: 8760h, "
                                                         "include_subdomains: true }")) as lbd:
            port = lbd.port
            # SNI: exact name, wildcard, and an unknown name gets the first certificate.
            for name, cn in [("a.test", "a.test"), ("x.b.test", "wild.b.test")]:
                code, out = run([CURL, "-sv", "--http1.1", "--cacert", p.ca, "--resolve",
                                 "%s:%d:127.0.0.1" % (name, port), "https://%s:%d/" % (name, port)])
                self.assertEqual(code, 0, out)
                self.assertIn("subject: CN=%s" % cn, out)
                self.assertRegex(out, r"(?i)strict-transport-security: max-age=31536000; "
                                      r"includeSubDomains")
            # A client that picks h2 by ALPN is handed to the HTTP/2 engine.
            code, out = run([CURL, "-sv", "--http2", "--cacert", p.ca, "--resolve",
                             "a.test:%d:127.0.0.1" % port, "https://a.test:%d/" % port])
            self.assertEqual(code, 0, out)
            self.assertIn("ALPN: server accepted h2", out)
            self.assertIn("< HTTP/2 200", out)
            code, out = s_client(port, ["-brief"], name="unknown.test")
            self.assertIn("CN = a.test", out)
            # The client's signature algorithms pick ECDSA or RSA for the same name.
            code, out = s_client(port, ["-sigalgs", "rsa_pss_rsae_sha256"])
            self.assertEqual(code, 0, out)
            self.assertIn("Server public key is 2048 bit", out)
            code, out = s_client(port, ["-sigalgs", "ecdsa_secp256r1_sha256"])
            self.assertEqual(code, 0, out)
            self.assertIn("Server public key is 256 bit", out)
            # Old protocols and non-AEAD suites are refused.
            code, out = s_client(port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            self.assertNotEqual(code, 0, out)
            code, out = s_client(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"])
            self.assertNotEqual(code, 0, out)
            self.assertIn("handshake failure", out)
            code, out = s_client(port, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
            self.assertEqual(code, 0, out)
            # Python's ssl with strict verification; the server sees https.
            conn, r, body = https_get(port, headers={"X-Forwarded-Proto": "http"})
            self.assertEqual(r.status, 200)
            self.assertEqual(body, b"app\n")
            conn.request("GET", "/second", headers={"Host": "a.test"})  # keep-alive over TLS
            r2 = conn.getresponse()
            self.assertEqual(r2.read(), b"app\n")
            conn.close()
            seen = b"".join(self.up.received)
            self.assertIn(b"X-Forwarded-Proto: https\r\n", seen)
            self.assertNotIn(b"X-Forwarded-Proto: http\r\n", seen)

    def test_resumption_by_ticket_and_by_cache(self):
        p = pki()
        listeners = (listener_yaml(p, name="tickets")
                     + listener_yaml(p, "session_tickets: false", name="cache"))
        with self.start(listeners) as lbd:
            request = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
            for name in ("tickets", "cache"):
                for proto in ("-tls1_3", "-tls1_2"):
                    sess = os.path.join(p.dir, "sess-%s%s" % (name, proto))
                    code, out = s_client(lbd.ports[name], [proto, "-ign_eof", "-sess_out", sess],
                                         stdin=request)
                    self.assertEqual(code, 0, out)
                    self.assertIn("New,", out)
                    code, out = s_client(lbd.ports[name], [proto, "-ign_eof", "-sess_in", sess],
                                         stdin=request)
                    self.assertIn("Reused,", out, "%s %s" % (name, proto))

    def test_mtls_required_passes_the_verified_subject(self):
        p = pki()
        tls = "client_ca: %s\nverify_client: required\nclient_subject_header: X-Client-Subject" % p.ca
        with self.start(listener_yaml(p, tls)) as lbd:
            with self.assertRaises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                https_get(lbd.port)
            ctx = ssl.create_default_context(cafile=p.ca)
            ctx.load_cert_chain(p.client[0], p.client[1])
            conn, r, body = https_get(lbd.port, context=ctx,
                                      headers={"X-Client-Subject": "CN=forged"})
            conn.close()
            self.assertEqual(r.status, 200)
            seen = b"".join(self.up.received)
            self.assertIn(b"X-Client-Subject: CN=client1\r\n", seen)
            self.assertNotIn(b"forged", seen)
            # The same over HTTP/2 (ALPN h2 hands the connection to the HTTP/2 engine).
            code, out = run([CURL, "-sv", "--http2", "--cacert", p.ca, "--cert", p.client[0],
                             "--key", p.client[1], "-H", "X-Client-Subject: CN=forged2",
                             "--resolve", "a.test:%d:127.0.0.1" % lbd.port,
                             "https://a.test:%d/h2" % lbd.port])
            self.assertEqual(code, 0, out)
            self.assertIn("< HTTP/2 200", out)
            seen = b"".join(self.up.received)
            self.assertEqual(seen.count(b"X-Client-Subject: CN=client1\r\n"), 2, seen)
            self.assertNotIn(b"forged2", seen)

    def test_ocsp_stapling(self):
        p = pki()
        index = p.path("index.txt")
        open(index, "w").close()
        ocsp = p.path("a.ocsp")
        p.ossl(["ocsp", "-index", index, "-rsigner", p.ca, "-rkey", p.ca_key, "-CA", p.ca,
                "-issuer", p.ca, "-cert", p.a_ec[0], "-respout", ocsp, "-ndays", "1"])
        certs = [(p.a_ec[0], p.a_ec[1], ", ocsp_response: %s" % ocsp)]
        with self.start(listener_yaml(p, certs=certs)) as lbd:
            code, out = s_client(lbd.port, ["-status"], stdin=b"")
            self.assertIn("OCSP Response Status: successful", out)
            self.assertNotIn("no response sent", out)

    def test_garbage_and_silent_clients_time_out_and_are_counted(self):
        p = pki()
        with self.start(listener_yaml(p, "handshake_timeout: 500ms"), metrics=True) as lbd:
            lbd.wait_log("metrics on")
            mport = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/", lbd.log()).group(1))
            garbage = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
            garbage.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            silent = socket.create_connection(("127.0.0.1", lbd.port), timeout=5)
            # The start of a ClientHello record, then silence. (A client that sends nothing
            # at all is held by the kernel: listeners use TCP_DEFER_ACCEPT.)
            silent.sendall(b"\x16\x03\x01\x02\x00")
            start = time.monotonic()
            try:
                while garbage.recv(4096):  # an alert, then EOF (or a reset: bytes were unread)
                    pass
            except ConnectionResetError:
                pass
            self.assertLess(time.monotonic() - start, 0.4)  # not a timeout: at once
            silent.settimeout(5)
            self.assertEqual(silent.recv(4096), b"")
            took = time.monotonic() - start
            self.assertGreater(took, 0.4)
            self.assertLess(took, 2.0)
            garbage.close()
            silent.close()
            labels = {"listener": "web"}
            deadline = time.time() + 5
            while time.time() < deadline:
                t = metric(mport, "fulcrum_tls_handshake_failures_total", dict(labels, reason="timeout"))
                g = metric(mport, "fulcrum_tls_handshake_failures_total", dict(labels, reason="protocol"))
                if t >= 1 and g >= 1:
                    break
                time.sleep(0.1)
            self.assertEqual((t, g), (1, 1))
            https_get(lbd.port)[0].close()
            self.assertEqual(metric(mport, "fulcrum_tls_handshakes_total", labels), 1)

    def test_reload_replaces_the_certificate_and_a_bad_key_keeps_the_old(self):
        p = pki()
        a2 = p.leaf("a2-ec", "a.test", ["a.test"], "ec")
        with self.start(listener_yaml(p, certs=[p.a_ec])) as lbd:
            before = peer_cert(lbd.port, "a.test")["serialNumber"]
            conn, r, _ = https_get(lbd.port)  # stays open across the reloads
            self.assertEqual(r.status, 200)
            with open(lbd.config_path, "w") as f:
                f.write(config(p, self.up, listener_yaml(p, certs=[a2])))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("(generation 2)")
            after = peer_cert(lbd.port, "a.test")["serialNumber"]
            self.assertNotEqual(before, after)
            conn.request("GET", "/again", headers={"Host": "a.test"})
            self.assertEqual(conn.getresponse().read(), b"app\n")
            # A key that does not match its certificate: the reload fails, the cert stays.
            with open(lbd.config_path, "w") as f:
                f.write(config(p, self.up, listener_yaml(p, certs=[(p.a_ec[0], a2[1])])))
            lbd.send_signal(signal.SIGHUP)
            lbd.wait_log("reload failed")
            self.assertRegex(lbd.log(), r"lbd\.yaml:\d+:\d+: listeners\[0\]\.tls\.certificates\[0\]"
                                        r"\.key: key '.*' does not match certificate")
            self.assertEqual(peer_cert(lbd.port, "a.test")["serialNumber"], after)
            # lbd --check reads the files too.
            code, _, err = run_lbd(["--check", lbd.config_path])
            self.assertEqual(code, 2, err)
            self.assertRegex(err, r"lbd\.yaml:\d+:\d+: listeners\[0\]\.tls\.certificates\[0\]\.key: "
                                  r"key '.*' does not match")
            conn.request("GET", "/third", headers={"Host": "a.test"})
            self.assertEqual(conn.getresponse().read(), b"app\n")
            conn.close()

    def test_quick_mode(self):
        p = pki()
        code, _, err = run_lbd(["proxy", "--listen", "127.0.0.1:0", "--to", self.up.address,
                                "--tls-cert", p.a_ec[0]])
        self.assertEqual(code, 2)
        self.assertIn("--tls-cert and --tls-key come in pairs", err)
        args = ["proxy", "--listen", "127.0.0.1:0", "--to", self.up.address, "--workers", "1",
                "--tls-cert", p.a_ec[0], "--tls-key", p.a_ec[1],
                "--tls-cert", p.b_ec[0], "--tls-key", p.b_ec[1], "--hsts"]
        with Lbd(args) as lbd:
            self.assertEqual(subject_cn(peer_cert(lbd.port, "x.b.test")), "wild.b.test")
            conn, r, body = https_get(lbd.port)
            conn.close()
            self.assertEqual(body, b"app\n")
            self.assertEqual(r.getheader("Strict-Transport-Security"), "max-age=31536000")


if __name__ == "__main__":
    main()
