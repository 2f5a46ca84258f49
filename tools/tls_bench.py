#!/usr/bin/env python3
"""HTTPS against plain HTTP, side by side in one run (issue 15).

One `sluice serve` of a cluster on one core (0) serves HTTPS on one port and
plain HTTP on another (--http-listen); sluice-bench on the other core (1)
runs 64 MiB PUT and GET against each, alternating, for --rounds rounds.
Prints throughput and server CPU per GiB of each, and their ratios.

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/tls_bench.py [--rounds 3]
"""

import argparse
import os
import shutil
import subprocess

from benchlib import ROOT, SLUICE, free_port, large_rounds, large_table, make_cluster, start_server, stop_server

WORK = os.path.join(ROOT, "target", "tls-bench")
SECRET = "tls-bench-admin-password"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    env, fs, config = make_cluster(WORK, SECRET)
    ca = os.path.join(WORK, "ca.pem")
    subprocess.run([SLUICE, "tls", "download", ca], env=env, check=True, capture_output=True)
    https_port, http_port = free_port(), free_port()
    proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{https_port}",
                        "--http-listen", f"127.0.0.1:{http_port}")
    try:
        results = large_rounds(proc.pid, SECRET, args.rounds, [
            ("http", f"127.0.0.1:{http_port}", [], lambda kind, r: f"{kind}-http-{r}"),
            ("https", f"127.0.0.1:{https_port}", ["--tls", "--cacert", ca], lambda kind, r: f"{kind}-https-{r}"),
        ])
        large_table(results, args.rounds, "http", "https", ("HTTP", "HTTPS"))
    finally:
        stop_server(proc)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
