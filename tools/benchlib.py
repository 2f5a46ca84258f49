"""What tools/tls_bench.py, sse_bench.py and audit_bench.py share: the
release binaries, a cluster in a fresh work directory, sluice-bench runs
pinned to core 1, and the table of medians."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice")
BENCH = os.path.join(ROOT, "target", "release", "sluice-bench")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cluster(work, secret):
    """A cluster in `work` (emptied first) whose admin's secret is
    `secret`; its env for the CLI, its root and config directory."""
    for exe in (SLUICE, BENCH):
        if not os.path.exists(exe):
            sys.exit(f"{exe} is missing: cargo build --release -p sluice-server -p sluice-bench")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(work, "xdg"))
    env.pop("SLUICE_CONFIG_DIR", None)
    fs, config = os.path.join(work, "fs"), os.path.join(work, "fs", ".config_fs")
    pw = os.path.join(work, "pw")
    with open(pw, "w") as f:
        f.write(secret + "\n")
    subprocess.run([SLUICE, "cluster", "create", "--root", fs, "--config-dir", config, "--root-password-file", pw],
                   env=env, check=True, capture_output=True)
    return env, fs, config


def start_server(env, fs, config, *flags, binary=SLUICE):
    """`sluice serve` of the cluster on core 0, waited for (`binary`: another
    build of sluice)."""
    proc = subprocess.Popen([binary, "serve", "--root", fs, "--config-dir", config, "--cores", "0", *flags],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while (line := proc.stdout.readline()) and "users:" not in line:
        pass
    # Keep reading what it prints: with its pipe full, a server that logs
    # (a warning a request, once a disk is full) would block in the write.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc


def stop_server(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def scrape(addr):
    """A server's /metrics at `addr` (HOST:PORT): {series: value}."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def bench(pid, host, secret, kind, bucket, *args, keep=True):
    """One sluice-bench run on core 1 against `host` as admin; its report
    (errors refused). With keep=False its objects are deleted afterwards."""
    cmd = ["taskset", "-c", "1", BENCH, kind, "--host", host, "--access-key", "admin", "--secret-key", secret,
           "--cores", "1", "--server-pid", str(pid), "--json", "--bucket", bucket, *(["--noclear"] if keep else []),
           *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"sluice-bench {kind}: {r.stderr[-2000:]}")
    rep = json.loads(r.stdout)
    errors = {k: v for o in rep["operations"] for k, v in o["errors"].items()}
    if errors:
        raise RuntimeError(f"sluice-bench {kind}: errors {errors}")
    return rep


def throughput(rep):
    """MiB/s and server CPU seconds per GiB of a report."""
    nbytes = sum(o["bytes"] for o in rep["operations"])
    return {"mib_s": nbytes / (1 << 20) / rep["seconds"], "cpu_s_gib": rep["server_cpu_s"] / (nbytes / (1 << 30))}


def medians(results, kinds, names, key):
    """The median result (by `key`) of each (kind, name)."""
    out = {}
    for kind in kinds:
        for name in names:
            rs = sorted(results[(kind, name)], key=lambda x: x[key])
            out[(kind, name)] = rs[len(rs) // 2]
    return out


def large_rounds(pid, secret, rounds, variants):
    """64 MiB PUT and GET through each of `variants` (name, host, extra
    sluice-bench arguments, bucket of a round r as a function) in turn,
    `rounds` times; the results by (kind, name)."""
    results = {}
    for r in range(rounds):
        for name, host, extra, bucket in variants:
            put = throughput(bench(pid, host, secret, "put", bucket("put", r), *extra, "--obj.size", "64MiB",
                                   "--concurrent", "2", "--count", "16"))
            get = throughput(bench(pid, host, secret, "get", bucket("get", r), *extra, "--obj.size", "64MiB",
                                   "--objects", "8", "--concurrent", "2", "--count", "32"))
            for kind, res in (("PUT", put), ("GET", get)):
                results.setdefault((kind, name), []).append(res)
                print(f"round {r + 1} {kind} 64 MiB {name:6}: {res['mib_s']:8.1f} MiB/s  "
                      f"server {res['cpu_s_gib']:.2f} s/GiB", flush=True)
    return results


def large_table(results, rounds, base, other, labels):
    """The markdown table comparing variant `other` with `base` (medians);
    `labels` names them in the header."""
    a, b = labels
    print()
    print(f"| 64 MiB, one server core | {a} MiB/s | {b} MiB/s | ratio | {a} server s/GiB | {b} server s/GiB | "
          "difference |")
    print("|---|---|---|---|---|---|---|")
    med = medians(results, ("PUT", "GET"), (base, other), "mib_s")
    for kind in ("PUT", "GET"):
        h, s = med[(kind, base)], med[(kind, other)]
        print(f"| {kind} | {h['mib_s']:,.0f} | {s['mib_s']:,.0f} | {s['mib_s'] / h['mib_s']:.2f} | "
              f"{h['cpu_s_gib']:.2f} | {s['cpu_s_gib']:.2f} | +{s['cpu_s_gib'] - h['cpu_s_gib']:.2f} |")
    print(f"\n(medians of {rounds} alternating rounds)")


class Sink(BaseHTTPRequestHandler):
    """An audit webhook that counts the events it is sent (Sink.events)
    and answers 200."""
    events = 0
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Sink.lock:
            Sink.events += body.count(b'"requestID"')
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_sink():
    """A Sink on a free port, served by a daemon thread: its URL and the
    server (to shut down)."""
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{hook.server_address[1]}/hook", hook
