#!/usr/bin/env python3
"""DNS-style UDP request/response load through lbd (mode: udp) and NGINX's stream module.

Both proxies get the same setup: one worker, round robin over three echo servers on loopback,
one reply per request. The proxy runs pinned to CPU 0; the echo servers and the load generator
(tests/bench/udp_bench.cc, built here with g++ -O2) share CPU 1. Each proxy is measured RUNS
times, alternating, and the medians are reported with the CPU use of each side, so one can see
that the proxy, not the load, is what saturates.

  tests/bench/udp_bench.py --lbd build/lbd [--flows 128] [--window 4] [--seconds 5] [--runs 3]

Needs: g++, taskset (util-linux), nginx + libnginx-mod-stream (scripts/install-deps.sh bench).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log error;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events {{ worker_connections 65536; }}
stream {{
  upstream dns {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port} udp reuseport rcvbuf=4m;  # as lbd's listener socket
    proxy_pass dns;
    proxy_responses 1;
    proxy_timeout 30s;
  }}
}}
"""

LBD_CONF = """
workers: 1
listeners:
  - name: dns
    address: 127.0.0.1:{port}
    mode: udp
    backend: dns
    flow_idle_timeout: 30s
backends:
  - name: dns
    balance: round_robin
    servers:
{servers}
"""


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_of(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_udp(port, timeout=10.0):
    """Until a datagram to the proxy comes back (through an echo server)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s.sendto(b"ping", ("127.0.0.1", port))
            s.recvfrom(100)
            s.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("proxy on port %d does not answer" % port)


def run_once(name, cmd, port, tool, args, tmp):
    proxy = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(tmp, name + ".stderr"), "wb"))
    try:
        wait_udp(port)
        # nginx runs a master and a worker: count every process of the group.
        pids = [proxy.pid] + children(proxy.pid)
        cpu0 = sum(cpu_of(p) for p in pids)
        t0 = time.time()
        out = subprocess.run(["taskset", "-c", "1", tool, "load", str(port), str(args.flows),
                              str(args.window), str(args.seconds), str(args.warmup)],
                             capture_output=True, text=True, check=True).stdout
        wall = time.time() - t0
        cpu = sum(cpu_of(p) for p in pids) - cpu0
        vals = dict(line.split() for line in out.strip().splitlines())
        return {"rps": float(vals["replies_per_s"]), "lost": int(vals["lost"]),
                "client_cpu": float(vals["client_cpu"]), "proxy_cpu": cpu / wall}
    finally:
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lbd", default=os.path.join(HERE, "../../build/lbd"))
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--flows", type=int, default=128)
    ap.add_argument("--window", type=int, default=4, help="queries in flight per flow")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="lbd,nginx")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="udp-bench-")
    tool = os.path.join(tmp, "udp_bench")
    subprocess.run(["g++", "-std=c++20", "-O2", "-o", tool, os.path.join(HERE, "udp_bench.cc")],
                   check=True)
    echo = subprocess.Popen(["taskset", "-c", "1", tool, "echo", "3"], stdout=subprocess.PIPE,
                            text=True)
    try:
        ports = [int(echo.stdout.readline()) for _ in range(3)]
        targets = {}
        if "lbd" in args.only:
            port = free_udp_port()
            conf = os.path.join(tmp, "lbd.yaml")
            with open(conf, "w") as f:
                f.write(LBD_CONF.format(port=port, servers="\n".join(
                    "      - address: 127.0.0.1:%d" % p for p in ports)))
            targets["lbd"] = ([os.path.abspath(args.lbd), "--config", conf], port)
        if "nginx" in args.only:
            port = free_udp_port()
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(tmp=tmp, port=port, servers="\n".join(
                    "    server 127.0.0.1:%d;" % p for p in ports)))
            targets["nginx"] = ([args.nginx, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                                port)
        results = {name: [] for name in targets}
        echo_cpu0 = cpu_of(echo.pid)
        t0 = time.time()
        for _ in range(args.runs):
            for name, (cmd, port) in targets.items():
                r = run_once(name, cmd, port, tool, args, tmp)
                results[name].append(r)
                print("%-6s %10.0f replies/s  proxy cpu %.2f  client cpu %.2f  lost %d" %
                      (name, r["rps"], r["proxy_cpu"], r["client_cpu"], r["lost"]), flush=True)
        echo_cpu = (cpu_of(echo.pid) - echo_cpu0) / (time.time() - t0)
        print("\nflows %d, window %d, %gs per run, median of %d (echo servers' cpu %.2f on "
              "average, incl. idle gaps)" % (args.flows, args.window, args.seconds, args.runs,
                                             echo_cpu))
        for name, rs in results.items():
            med = statistics.median(r["rps"] for r in rs)
            per_core = statistics.median(r["rps"] / max(r["proxy_cpu"], 0.01) for r in rs)
            print("%-6s median %10.0f replies/s (= %.0f datagrams/s received, as many sent, "
                  "by the proxy)  proxy cpu %.2f  client cpu %.2f  per proxy core %.0f replies/s" %
                  (name, med, 2 * med, statistics.median(r["proxy_cpu"] for r in rs),
                   statistics.median(r["client_cpu"] for r in rs), per_core))
    finally:
        echo.kill()
        echo.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
