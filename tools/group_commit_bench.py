#!/usr/bin/env python3
"""Small PUTs made durable with and without group commit, in one run (issue 19).

Servers of one cluster on the same core (0), each answering a PUT only once
its data, metadata and name are durable:
- "group commit": as built, a PUT waits for a syncfs that began after its
  data was written, then (linked) for one that began after its name was;
  each syncfs is shared by every PUT of the thread waiting for it;
- "per object" (--no-group-commit): an fdatasync of the PUT's file, then
  an fsync of its directory;
and, with --old BINARY, the same PUTs on an older build (for the
session-start figure: it fdatasynced the file but not its directory).

sluice-bench on the other core (1) puts 4 KiB objects at 1, 8 and 64 in
flight against each in turn, --rounds times. Prints server CPU per PUT,
PUTs a second and latency p50/p99 (medians of the rounds by CPU), and the
syncs the group commit ran.

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/group_commit_bench.py [--rounds 3] [--old target/old/release/sluice] [--dir D]

Objects are kept until the end: deleting during the run would slow the
next PUTs' inode allocation on an ext4 without a journal (this machine's
root filesystem), which skips inodes freed in the last minutes.
"""

import argparse
import os
import shutil

import benchlib
from benchlib import ROOT, bench, free_port, make_cluster, medians, scrape, start_server, stop_server

WORK = os.path.join(ROOT, "target", "group-commit-bench")
SECRET = "group-commit-bench-admin-password"


def busy_seconds():
    """CPU time the whole machine spent busy so far (every core, every
    process and kernel thread: the client and the writeback threads too)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def syncs(metrics):
    m = scrape(metrics)
    return (m.get("sluice_group_syncs_total", 0.0), m.get("sluice_group_sync_waits_total", 0.0),
            m.get("sluice_inline_writes_total", 0.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=6000, help="PUTs per measurement (64 in flight)")
    ap.add_argument("--old", help="an older sluice binary to measure as well")
    ap.add_argument("--dir", default=WORK, help="work directory (its filesystem is the one measured)")
    args = ap.parse_args()
    work = args.dir
    env, fs, config = make_cluster(work, SECRET)
    variants = [("group commit", benchlib.SLUICE, []), ("per object", benchlib.SLUICE, ["--no-group-commit"])]
    if args.old:
        variants.append(("old build", args.old, []))
    servers = {}
    try:
        for name, binary, flags in variants:
            port, metrics = free_port(), free_port()
            proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--metrics-listen",
                                f"127.0.0.1:{metrics}", "--insecure-http", *flags, binary=binary)
            servers[name] = (proc, f"127.0.0.1:{port}", f"127.0.0.1:{metrics}")
        results = {}
        for r in range(args.rounds):
            for conc in (1, 8, 64):
                count = max(200, args.count * conc // 64)
                for name, (proc, host, metrics) in servers.items():
                    before = syncs(metrics) if name == "group commit" else None
                    busy = busy_seconds()
                    rep = bench(proc.pid, host, SECRET, "put", f"small-{r}-{conc}", "--obj.size", "4KiB",
                                "--concurrent", str(conc), "--count", str(count))
                    op = rep["operations"][0]
                    machine = (busy_seconds() - busy) / op["ops"] * 1e6
                    res = {"cpu_us": rep["server_cpu_s"] / op["ops"] * 1e6, "machine_us": machine,
                           "ops_s": op["ops"] / op["seconds"],
                           "p50_ms": op["latency"]["p50_us"] / 1e3, "p99_ms": op["latency"]["p99_us"] / 1e3}
                    if before is not None:
                        after = syncs(metrics)
                        n = after[0] - before[0]
                        res["puts_per_sync"] = op["ops"] / n if n else None
                        res["inline_share"] = (after[2] - before[2]) / op["ops"]
                    results.setdefault((conc, name), []).append(res)
                    extra = f"  {res['puts_per_sync']:.1f} PUTs a sync" if res.get("puts_per_sync") else ""
                    print(f"round {r + 1} {conc:2} in flight {name:12}: {res['cpu_us']:6.1f} µs/PUT "
                          f"(machine {machine:6.1f}) "
                          f"{res['ops_s']:7.0f} PUT/s  p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms{extra}",
                          flush=True)
        print()
        print("| 4 KiB PUT, durable | in flight | server µs/PUT | machine µs/PUT | PUT/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|---|")
        med = medians(results, (1, 8, 64), servers, "cpu_us")
        for conc in (1, 8, 64):
            for name in servers:
                m = med[(conc, name)]
                note = ""
                if "puts_per_sync" in m:
                    note = (f" ({m['puts_per_sync']:.1f} PUTs a syncfs, {m['inline_share']:.0%} through the page cache)"
                            if m["puts_per_sync"] else " (no syncfs: too few)")
                print(f"| {name}{note} | {conc} | {m['cpu_us']:.1f} | {m['machine_us']:.1f} | {m['ops_s']:,.0f} | "
                      f"{m['p50_ms']:.2f} | "
                      f"{m['p99_ms']:.2f} |")
        print(f"\n(medians by server CPU of {args.rounds} rounds; machine: every core's busy time over the "
              "step, the client's and the kernel's writeback threads' included)")
    finally:
        for proc, _, _ in servers.values():
            stop_server(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
