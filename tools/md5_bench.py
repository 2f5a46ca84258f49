#!/usr/bin/env python3
"""Bodies hashed side by side against each alone, in one run (issue 19).

Two `sluice serve` of one cluster on the same core (0): one as built (the
thread's hasher puts the MD5 of the bodies that arrive together in SIMD
lanes), one with --md5-alone (each body hashed at once, alone: the code
before issue 19). sluice-bench on the other core (1) runs each workload
against one then the other, --rounds times, 16 bodies in flight:

- PUT of 64 MiB objects, the payload unsigned with a CRC32 checksum (what
  boto3 >= 1.36, the AWS CRT and aws-cli v2 send), and with the payload's
  SHA-256 signed;
- multipart uploads of 64 MiB in 8 MiB parts, the same two ways.

Prints server CPU seconds per GiB and MiB/s of each (medians), their
ratio, and the share of MD5 bytes the side-by-side server hashed in lanes
(its sluice_md5_bytes_total).

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/md5_bench.py [--rounds 3] [--count 32]
"""

import argparse
import os
import shutil

from benchlib import ROOT, bench, free_port, make_cluster, medians, scrape, start_server, stop_server, throughput

WORK = os.path.join(ROOT, "target", "md5-bench")
SECRET = "md5-bench-admin-password"

UNSIGNED = ["--disable-sha256-payload", "--checksum", "CRC32"]
WORKLOADS = [
    ("PUT 64 MiB, unsigned + CRC32", "put", UNSIGNED),
    ("PUT 64 MiB, SHA-256 signed", "put", []),
    ("multipart 8 MiB parts, unsigned + CRC32", "multipart", ["--part.size", "8MiB", *UNSIGNED]),
    ("multipart 8 MiB parts, SHA-256 signed", "multipart", ["--part.size", "8MiB"]),
]


def md5_bytes(metrics):
    """(side by side, alone) bytes from a server's /metrics."""
    m = scrape(metrics)
    return (m.get('sluice_md5_bytes_total{how="side_by_side"}', 0.0),
            m.get('sluice_md5_bytes_total{how="alone"}', 0.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=32, help="bodies of 64 MiB per measurement")
    ap.add_argument("--concurrent", type=int, default=16)
    args = ap.parse_args()
    env, fs, config = make_cluster(WORK, SECRET)
    servers = {}
    try:
        for name, flags in (("alone", ["--md5-alone"]), ("side by side", [])):
            port, metrics = free_port(), free_port()
            proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}",
                                "--metrics-listen", f"127.0.0.1:{metrics}", "--insecure-http", *flags)
            servers[name] = (proc, f"127.0.0.1:{port}", f"127.0.0.1:{metrics}")
        results, lanes = {}, {}
        for r in range(args.rounds):
            for label, kind, extra in WORKLOADS:
                for name, (proc, host, metrics) in servers.items():
                    before = md5_bytes(metrics)
                    rep = bench(proc.pid, host, SECRET, kind, f"{kind}-{r}", "--obj.size", "64MiB",
                                "--concurrent", str(args.concurrent), "--count", str(args.count), *extra,
                                keep=False)
                    after = md5_bytes(metrics)
                    res = throughput(rep)
                    side, alone = after[0] - before[0], after[1] - before[1]
                    res["lanes"] = side / (side + alone) if side + alone else 0.0
                    results.setdefault((label, name), []).append(res)
                    lanes.setdefault((label, name), []).append(res["lanes"])
                    print(f"round {r + 1} {label:42} {name:12}: {res['mib_s']:8.1f} MiB/s  "
                          f"server {res['cpu_s_gib']:.2f} s/GiB  in lanes {res['lanes']:.0%}", flush=True)
        labels = [w[0] for w in WORKLOADS]
        med = medians(results, labels, list(servers), "cpu_s_gib")
        print()
        print(f"| {args.concurrent} bodies in flight, one server core | alone s/GiB | side by side s/GiB | ratio | "
              "alone MiB/s | side by side MiB/s | MD5 bytes in lanes |")
        print("|---|---|---|---|---|---|---|")
        for label in labels:
            a, s = med[(label, "alone")], med[(label, "side by side")]
            print(f"| {label} | {a['cpu_s_gib']:.2f} | {s['cpu_s_gib']:.2f} | {s['cpu_s_gib'] / a['cpu_s_gib']:.2f} | "
                  f"{a['mib_s']:,.0f} | {s['mib_s']:,.0f} | {s['lanes']:.0%} |")
        print(f"\n(medians by server CPU of {args.rounds} alternating rounds, {args.count} bodies each)")
    finally:
        for proc, _, _ in servers.values():
            stop_server(proc)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
