"""Shared harness for integration tests: start the real lbd binary, find its ports, stop it.

Every test starts what it needs on ephemeral loopback ports and stops it by PID. The lbd binary
path comes from the LBD environment variable (set by ctest) or ./build/lbd.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

LBD = os.environ.get("LBD", os.path.join(os.path.dirname(__file__), "../../build/lbd"))

LISTEN_RE = re.compile(r"listener (\S+) on (\S+):(\d+)")


class Lbd:
    """A running lbd. Use as a context manager; stop() returns the exit code."""

    def __init__(self, args, config_text=None, wait_listen=True, timeout=15.0):
        self.tmp = tempfile.TemporaryDirectory(prefix="lbdtest-")
        self.config_path = None
        if config_text is not None:
            self.config_path = os.path.join(self.tmp.name, "lbd.yaml")
            with open(self.config_path, "w") as f:
                f.write(config_text)
            args = [a if a != "{config}" else self.config_path for a in args]
        self.log_path = os.path.join(self.tmp.name, "lbd.log")
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([LBD] + list(args), stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        self.ports = {}
        if wait_listen:
            self._wait_listen(timeout)

    def _wait_listen(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log()
            if "lbd started" in text:
                for name, _host, port in LISTEN_RE.findall(text):
                    self.ports[name] = int(port)
                return
            if self.proc.poll() is not None:
                raise RuntimeError("lbd exited early with %s:\n%s" % (self.proc.returncode, text))
            time.sleep(0.02)
        raise RuntimeError("lbd did not start in time:\n" + self.log())

    @property
    def port(self):
        return next(iter(self.ports.values()))

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10.0, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log().count(needle) >= count:
                return True
            time.sleep(0.02)
        raise AssertionError("log never showed %r:\n%s" % (needle, self.log()))

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("lbd did not stop within %ss:\n%s" % (timeout, self.log()))
        self.log_file.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
        self.tmp.cleanup()


def run_lbd(args, timeout=30):
    """Runs lbd to completion (for --check, --version, ...): (exit code, stdout, stderr)."""
    p = subprocess.run([LBD] + list(args), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def http_request(port, raw, timeout=5.0, read_until_close=True):
    """Sends raw bytes to 127.0.0.1:port and returns everything read until close/timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            chunks.append(data)
            if not read_until_close:
                break
        return b"".join(chunks)
    finally:
        s.close()


class Upstream:
    """A raw TCP upstream on an ephemeral loopback port that records what it receives.

    `handler(conn, data_so_far)` decides what to answer; the default answers every complete
    request head with a small 200 keeping the connection alive. `received` holds all bytes per
    connection, `connections` counts accepted connections.
    """

    def __init__(self, name="up", respond=None, port=0):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.connections = 0
        self.respond = respond or self.default_respond
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def default_respond(self, conn, buf):
        """Answers each complete head (bodies by Content-Length) with 200; returns leftover."""
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(rest) < n:
                return buf
            buf = rest[n:]
            body = self.name.encode() + b"\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Upstream: %s\r\n\r\n%s"
                         % (len(body), self.name.encode(), body))
        return buf

    def _accept_loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                index = len(self.received)
                self.received.append(b"")
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn, index):
        buf = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.received[index] += data
                buf = self.respond(conn, buf + data)
                if buf is None:
                    break
        except OSError:
            pass
        finally:
            conn.close()

    def all_received(self):
        with self.lock:
            return b"".join(self.received)

    def close(self):
        self.closed = True
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the socket
        # listening (and accepting) until that accept() returned.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class LbdTestCase(unittest.TestCase):
    maxDiff = None


def main():
    unittest.main(verbosity=2)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 helpers for the proxy suites (raw sockets; nothing here normalises what is on the wire)

def connect(port, timeout=5.0):
    """A client socket to 127.0.0.1:port with a timeout on every operation."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_to_eof(sock, size=4096):
    """Every byte `sock` receives until the peer's FIN."""
    got = b""
    while True:
        data = sock.recv(size)
        if not data:
            return got
        got += data


def free_port():
    """A loopback port that nothing listens on (bound, then closed at once)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    """VmRSS of a process in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


class HttpMessage:
    """One parsed HTTP/1.x message: start line, fields in wire order, decoded body, raw bytes."""

    def __init__(self):
        self.start = b""
        self.method = self.target = None  # requests
        self.status = None                # responses
        self.version = b""
        self.headers = []                 # [(name, value)] as received, value OWS-trimmed
        self.body = b""                   # payload (chunked decoded)
        self.raw_body = b""               # body bytes exactly as on the wire
        self.raw = b""                    # the whole message as on the wire
        self.trailers = []
        self.chunked = False
        self.interim = []                 # 1xx responses that came before this one

    def header(self, name):
        """The value of the first field called `name` (case-insensitive), or None."""
        vals = self.all(name)
        return vals[0] if vals else None

    def all(self, name):
        n = name.lower().encode() if isinstance(name, str) else name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def names(self):
        return [k.lower() for k, _ in self.headers]

    def __repr__(self):
        return "<HttpMessage %r %d fields, %d body bytes>" % (self.start, len(self.headers),
                                                              len(self.body))


class Incomplete(Exception):
    pass


def _parse_head(buf):
    """(start line, [(name, value)], head length) or raises Incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise Incomplete()
    lines = buf[:end].split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name, value.strip(b" \t")))
    return lines[0], headers, end + 4


def _parse_chunked(buf, pos):
    """Decodes a chunked body starting at buf[pos]: (payload, trailers, end) or Incomplete."""
    payload = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete()
        size = int(buf[pos:eol].split(b";")[0].strip(), 16)
        pos = eol + 2
        if size == 0:
            trailers = []
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    raise Incomplete()
                line = buf[pos:eol]
                pos = eol + 2
                if not line:
                    return b"".join(payload), trailers, pos
                name, _, value = line.partition(b":")
                trailers.append((name, value.strip()))
        if len(buf) < pos + size + 2:
            raise Incomplete()
        payload.append(buf[pos:pos + size])
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("chunk data not followed by CRLF")
        pos += size + 2


def parse_request(buf):
    """Parses one complete request at the start of buf: (HttpMessage, rest) or None if more
    bytes are needed. Bodies by Content-Length or chunked."""
    try:
        start, headers, pos = _parse_head(buf)
        m = HttpMessage()
        m.start, m.headers = start, headers
        parts = start.split(b" ")
        m.method, m.target, m.version = parts[0], parts[1], parts[-1]
        te = m.header("transfer-encoding")
        if te is not None and te.lower().endswith(b"chunked"):
            m.chunked = True
            m.body, m.trailers, end = _parse_chunked(buf, pos)
        else:
            n = int(m.header("content-length") or 0)
            if len(buf) < pos + n:
                raise Incomplete()
            m.body = buf[pos:pos + n]
            end = pos + n
        m.raw_body = buf[pos:end]
        m.raw = buf[:end]
        return m, buf[end:]
    except Incomplete:
        return None


class HttpUpstream(Upstream):
    """An Upstream that parses whole requests and answers each with handler(req) -> bytes
    (None: close the connection without answering; a list: pieces sent 50 ms apart).
    `requests` lists (connection index, HttpMessage); inside the handler, requests[-1] is the
    request being answered."""

    def __init__(self, name="up", handler=None, port=0):
        self.handler = handler or self.ok_handler
        self.requests = []
        self._conn_index = {}
        super().__init__(name, respond=self._respond, port=port)

    def ok_handler(self, req):
        body = self.name.encode() + b" " + req.target
        return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def _serve(self, conn, index):
        self._conn_index[id(conn)] = index
        super()._serve(conn, index)

    def _respond(self, conn, buf):
        while True:
            parsed = parse_request(buf)
            if parsed is None:
                return buf
            req, buf = parsed
            with self.lock:
                self.requests.append((self._conn_index.get(id(conn)), req))
            out = self.handler(req)
            if out is None:
                return None
            if isinstance(out, list):
                for i, piece in enumerate(out):
                    if i:
                        time.sleep(0.05)
                    conn.sendall(piece)
            elif out:
                conn.sendall(out)

    def only_request(self):
        with self.lock:
            assert len(self.requests) == 1, self.requests
            return self.requests[0][1]


class TcpServer:
    """A loopback TCP server that runs handler(conn, index) on its own thread per connection
    and records nothing (for bulk transfers)."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.errors = []
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn, self.connections - 1),
                             daemon=True).start()

    def _run(self, conn, index):
        try:
            conn.settimeout(30)
            self.handler(conn, index)
        except Exception as e:  # noqa: BLE001 - reported to the test through `errors`
            self.errors.append(e)
        finally:
            conn.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (see Upstream.close)
        except OSError:
            pass
        self.sock.close()


class Reader:
    """Reads HTTP/1.x messages from a socket, keeping bytes that belong to the next one."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            raise EOFError("connection closed; have %r" % self.buf[:2000])
        data = self.sock.recv(262144)
        if not data:
            self.eof = True
            raise EOFError("connection closed; have %r" % self.buf[:2000])
        self.buf += data

    def read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        try:
            while True:
                self._fill()
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_response(self, method=b"GET", skip_interim=True):
        """One response (1xx answers are collected in .interim when skip_interim)."""
        interim = []
        while True:
            while True:
                try:
                    start, headers, pos = _parse_head(self.buf)
                    break
                except Incomplete:
                    self._fill()
            m = HttpMessage()
            m.start, m.headers = start, headers
            parts = start.split(b" ", 2)
            m.version = parts[0]
            m.status = int(parts[1])
            head, self.buf = self.buf[:pos], self.buf[pos:]
            te = m.header("transfer-encoding")
            cl = m.header("content-length")
            if m.status < 200 or m.status in (204, 304) or method == b"HEAD":
                pass
            elif te is not None:
                m.chunked = True
                while True:
                    try:
                        m.body, m.trailers, end = _parse_chunked(self.buf, 0)
                        break
                    except Incomplete:
                        self._fill()
                m.raw_body, self.buf = self.buf[:end], self.buf[end:]
            elif cl is not None:
                m.body = m.raw_body = self.read_exact(int(cl))
            else:
                m.body = m.raw_body = self.read_to_eof()
            m.raw = head + m.raw_body
            if m.status < 200 and m.status != 101 and skip_interim:
                interim.append(m)
                continue
            m.interim = interim
            return m

    def closed(self, timeout=3.0):
        """True if the peer closes (EOF or reset) within `timeout` with no further bytes."""
        if self.buf:
            return False
        if self.eof:
            return True
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(old)
        if data:
            self.buf += data
            return False
        self.eof = True
        return True


def exchange(port, raw, method=b"GET", timeout=5.0):
    """Sends raw bytes on a fresh connection, reads one response: (response, reader)."""
    s = connect(port, timeout)
    s.sendall(raw)
    r = Reader(s)
    return r.read_response(method), r


def assert_clean_exit(test, lbd):
    """Stops lbd and checks it exited 0 without sanitizer reports."""
    code = lbd.stop()
    log = lbd.log()
    test.assertNotIn("Sanitizer", log)
    test.assertNotIn("runtime error", log)
    test.assertEqual(code, 0, log[-3000:])
