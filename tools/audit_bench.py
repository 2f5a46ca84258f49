#!/usr/bin/env python3
"""The cost of auditing, side by side in one run (issue 16).

One `sluice serve` of a cluster on one core (0), plain HTTP; a webhook (a
Python http.server in this process, answering 200) takes the events;
sluice-bench on core 1 runs 4 KiB PUT and GET, 64 in flight, with the
audit webhook enabled and disabled in alternation (`sluice audit-webhook
enable|disable`, which the server picks up within a second), for --rounds
rounds. Prints throughput and server CPU per operation of each, and their
ratios.

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/audit_bench.py [--rounds 3] [--batch 500]
"""

import argparse
import os
import shutil
import subprocess
import time

from benchlib import ROOT, SLUICE, Sink, bench, free_port, make_cluster, medians, start_server, start_sink, stop_server

WORK = os.path.join(ROOT, "target", "audit-bench")
SECRET = "audit-bench-admin-password"


def ops(rep):
    """Operations per second and server CPU µs per operation of a report."""
    n = sum(o["ops"] for o in rep["operations"])
    return {"ops_s": n / rep["seconds"], "cpu_us_op": rep["server_cpu_s"] / n * 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500, help="events per POST (sluice audit-webhook enable --batch)")
    args = ap.parse_args()
    env, fs, config = make_cluster(WORK, SECRET)
    url, hook = start_sink()
    port = free_port()
    proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--insecure-http")
    try:
        # The webhook (this process) shares the client's core: the server's
        # core is the server's, as with a webhook on another machine.
        os.sched_setaffinity(0, {1})
        host = f"127.0.0.1:{port}"
        results = {}
        for r in range(args.rounds):
            for name in ("off", "on"):
                if name == "on":
                    subprocess.run([SLUICE, "audit-webhook", "enable", "--url", url, "--batch", str(args.batch),
                                    "--flush-interval", "200ms"], env=env, check=True, capture_output=True)
                else:
                    subprocess.run([SLUICE, "audit-webhook", "disable"], env=env, check=True, capture_output=True)
                time.sleep(1.5)
                put = ops(bench(proc.pid, host, SECRET, "put", f"put-{name}-{r}", "--obj.size", "4KiB",
                                "--concurrent", "64", "--count", "10000", "--duration", "20s"))
                get = ops(bench(proc.pid, host, SECRET, "get", f"get-{name}-{r}", "--obj.size", "4KiB",
                                "--objects", "1000", "--concurrent", "64", "--count", "50000", "--duration", "20s"))
                for kind, res in (("PUT", put), ("GET", get)):
                    results.setdefault((kind, name), []).append(res)
                    print(f"round {r + 1} {kind} 4 KiB audit {name:3}: {res['ops_s']:9.0f} ops/s  "
                          f"server {res['cpu_us_op']:.1f} us/op", flush=True)
        print()
        print("| 4 KiB, 64 in flight, one server core | audit off ops/s | audit on ops/s | ratio | "
              "off server µs/op | on server µs/op | difference |")
        print("|---|---|---|---|---|---|---|")
        med = medians(results, ("PUT", "GET"), ("off", "on"), "ops_s")
        for kind in ("PUT", "GET"):
            a, b = med[(kind, "off")], med[(kind, "on")]
            print(f"| {kind} | {a['ops_s']:,.0f} | {b['ops_s']:,.0f} | {b['ops_s'] / a['ops_s']:.2f} | "
                  f"{a['cpu_us_op']:.1f} | {b['cpu_us_op']:.1f} | +{b['cpu_us_op'] - a['cpu_us_op']:.1f} |")
        time.sleep(2)
        print(f"\n(medians of {args.rounds} alternating rounds, --batch {args.batch}; "
              f"the webhook took {Sink.events} events)")
    finally:
        stop_server(proc)
        hook.shutdown()
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
