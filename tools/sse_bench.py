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
import os
import shutil
import subprocess

from benchlib import ROOT, SLUICE, free_port, large_rounds, large_table, make_cluster, start_server, stop_server

WORK = os.path.join(ROOT, "target", "sse-bench")
SECRET = "sse-bench-admin-password"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    env, fs, config = make_cluster(WORK, SECRET)
    for r in range(args.rounds):
        for kind in ("put", "get"):
            subprocess.run([SLUICE, "bucket", "create", f"{kind}-sealed-{r}", "--encrypt"], env=env, check=True,
                           capture_output=True)
    port = free_port()
    proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--insecure-http")
    host = f"127.0.0.1:{port}"
    try:
        results = large_rounds(proc.pid, SECRET, args.rounds, [
            ("plain", host, [], lambda kind, r: f"{kind}-plain-{r}"),
            ("sealed", host, [], lambda kind, r: f"{kind}-sealed-{r}"),
        ])
        large_table(results, args.rounds, "plain", "sealed", ("plain", "encrypted"))
    finally:
        stop_server(proc)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
