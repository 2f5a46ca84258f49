#!/usr/bin/env python3
"""Encrypted objects against plain ones, side by side in one run (issue 15).

One `sluice serve` of a cluster on one core (0), plain HTTP; sluice-bench on
the other core (1) runs 64 MiB PUT and GET into a bucket made with
`sluice bucket create --encrypt` and into a plain one, alternating, for
--rounds rounds. Prints throughput and server CPU per GiB of each, and
their ratios.

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/sse_bench.py [--rounds 3]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "target", "release", "sluice")
BENCH = os.path.join(ROOT, "target", "release", "sluice-bench")
WORK = os.path.join(ROOT, "target", "sse-bench")
SECRET = "sse-bench-admin-password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(pid, host, tls, ca, kind, bucket, *args):
    extra = ["--tls", "--cacert", ca] if tls else []
    cmd = ["taskset", "-c", "1", BENCH, kind, "--host", host, "--access-key", "admin", "--secret-key", SECRET,
           "--cores", "1", "--server-pid", str(pid), "--json", "--bucket", bucket, "--noclear", *extra, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"sluice-bench {kind}: {r.stderr[-2000:]}")
    rep = json.loads(r.stdout)
    ops = rep["operations"]
    errors = {k: v for o in ops for k, v in o["errors"].items()}
    if errors:
        raise RuntimeError(f"sluice-bench {kind}: errors {errors}")
    nbytes = sum(o["bytes"] for o in ops)
    gib = nbytes / (1 << 30)
    return {"mib_s": nbytes / (1 << 20) / rep["seconds"], "cpu_s_gib": rep["server_cpu_s"] / gib}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    for exe in (SLUICE, BENCH):
        if not os.path.exists(exe):
            sys.exit(f"{exe} is missing: cargo build --release -p sluice-server -p sluice-bench")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(WORK, "xdg"))
    env.pop("SLUICE_CONFIG_DIR", None)
    fs, config = os.path.join(WORK, "fs"), os.path.join(WORK, "fs", ".config_fs")
    pw = os.path.join(WORK, "pw")
    with open(pw, "w") as f:
        f.write(SECRET + "\n")
    subprocess.run([SLUICE, "cluster", "create", "--root", fs, "--config-dir", config, "--root-password-file", pw],
                   env=env, check=True, capture_output=True)
    ca = None
    for r in range(args.rounds):
        for kind in ("put", "get"):
            subprocess.run([SLUICE, "bucket", "create", f"{kind}-sealed-{r}", "--encrypt"], env=env, check=True,
                           capture_output=True)
    port = free_port()
    proc = subprocess.Popen([SLUICE, "serve", "--root", fs, "--config-dir", config, "--cores", "0",
                             "--listen", f"127.0.0.1:{port}", "--insecure-http"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while (line := proc.stdout.readline()) and "users:" not in line:
            pass
        results = {}
        for r in range(args.rounds):
            for name, tls in (("plain", False), ("sealed", True)):
                host = f"127.0.0.1:{port}"
                put = bench(proc.pid, host, False, ca, "put", f"put-{name}-{r}", "--obj.size", "64MiB",
                            "--concurrent", "2", "--count", "16")
                get = bench(proc.pid, host, False, ca, "get", f"get-{name}-{r}", "--obj.size", "64MiB",
                            "--objects", "8", "--concurrent", "2", "--count", "32")
                for kind, res in (("PUT", put), ("GET", get)):
                    results.setdefault((kind, name), []).append(res)
                    print(f"round {r + 1} {kind} 64 MiB {name:6}: {res['mib_s']:8.1f} MiB/s  "
                          f"server {res['cpu_s_gib']:.2f} s/GiB", flush=True)
        print()
        print("| 64 MiB, one server core | plain MiB/s | encrypted MiB/s | ratio | plain server s/GiB | "
              "encrypted server s/GiB | difference |")
        print("|---|---|---|---|---|---|---|")
        for kind in ("PUT", "GET"):
            med = {}
            for name in ("plain", "sealed"):
                rs = sorted(results[(kind, name)], key=lambda x: x["mib_s"])
                med[name] = rs[len(rs) // 2]
            h, s = med["plain"], med["sealed"]
            print(f"| {kind} | {h['mib_s']:,.0f} | {s['mib_s']:,.0f} | {s['mib_s'] / h['mib_s']:.2f} | "
                  f"{h['cpu_s_gib']:.2f} | {s['cpu_s_gib']:.2f} | +{s['cpu_s_gib'] - h['cpu_s_gib']:.2f} |")
        print(f"\n(medians of {args.rounds} alternating rounds)")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
