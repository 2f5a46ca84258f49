#!/usr/bin/env python3
"""DELETE of small objects, this build against another, in one run.

Two servers of one cluster (this build and --old BINARY) on core 0, in
alternating rounds; in each, sluice-bench on core 1 puts --objects 1 KiB
objects, then deletes them all at --concurrent in flight (the peer
comparison's "DELETE all" step). Prints DELETEs a second, server CPU per
DELETE and latency p50/p99 of each round, the medians, and how many
unlinks went through io_uring (`sluice_unlinks_on_ring_total`: deletes on
a filesystem where unlinks wait, such as ext4 without a journal mounted
with `discard`).

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/delete_bench.py --old OLD_BINARY [--rounds 4] [--dir D]
"""

import argparse
import os
import statistics
import time

from benchlib import ROOT, SLUICE, bench, free_port, make_cluster, scrape, start_server, stop_server

WORK = os.path.join(ROOT, "target", "delete-bench")
SECRET = "delete-bench-admin-password"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the sluice binary to compare with")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--concurrent", type=int, default=64)
    ap.add_argument("--dir", default=WORK, help="work directory (its filesystem is the one measured)")
    args = ap.parse_args()
    env, fs, config = make_cluster(args.dir, SECRET)
    builds = [("this build", SLUICE), ("old", args.old)]
    rows = {name: [] for name, _ in builds}
    for r in range(args.rounds):
        for name, binary in builds:
            port, metrics = free_port(), free_port()
            proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--insecure-http",
                                "--metrics-listen", f"127.0.0.1:{metrics}", binary=binary)
            try:
                rep = bench(proc.pid, f"127.0.0.1:{port}", SECRET, "delete", f"delete-{r}", "--obj.size", "1KiB",
                            "--objects", str(args.objects), "--concurrent", str(args.concurrent), keep=False)
                on_ring = scrape(f"127.0.0.1:{metrics}").get("sluice_unlinks_on_ring_total", 0.0)
            finally:
                stop_server(proc)
            op = rep["operations"][0]
            row = dict(ops_s=op["ops"] / rep["seconds"], cpu_us=rep["server_cpu_s"] / op["ops"] * 1e6,
                       p50_ms=op["latency"]["p50_us"] / 1000, p99_ms=op["latency"]["p99_us"] / 1000,
                       on_ring=on_ring)
            rows[name].append(row)
            print(f"round {r + 1} {name}: {row['ops_s']:,.0f} DELETE/s, {row['cpu_us']:.1f} µs CPU a DELETE, "
                  f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, {row['on_ring']:.0f} on the ring",
                  flush=True)
            # The next server starts on a quiet filesystem.
            time.sleep(2)
    print("\n| build | DELETE/s | µs CPU a DELETE | p50 ms | p99 ms | unlinks on the ring |\n|---|---|---|---|---|---|")
    for name, _ in builds:
        med = {k: statistics.median(r[k] for r in rows[name]) for k in rows[name][0]}
        print(f"| {name} | {med['ops_s']:,.0f} | {med['cpu_us']:.1f} | {med['p50_ms']:.1f} | {med['p99_ms']:.1f} "
              f"| {med['on_ring']:.0f} |")


if __name__ == "__main__":
    main()
