#!/usr/bin/env python3
"""The kernel's floor under a durable 4 KiB PUT and a listed key on this host
(issue 19): what the filesystem, loopback TCP and hashing cost with nothing of
sluice around them, to read sluice's own figures against.

Builds the C programs of tools/floor with gcc into target/floor and runs:
- fs_floor: per object an O_TMPFILE, a 4 KiB pwrite, the metadata xattr and a
  linkat; one syncfs per batch before the links and one after (sluice's group
  commit), without and with the lookups a sluice PUT makes (openat2 of bucket
  and parent, the bucket's encryption xattr, flock, fstat, closes);
- tcp_floor: 64 loopback connections, 4,400 bytes in and 300 out a request,
  server on core 0 and client on core 1;
- list_floor: openat2, fstat, fgetxattr and close of each key in a directory
  of --keys files (sluice's listing, per key);
- SHA-256 and MD5 of 4 KiB through hashlib (OpenSSL), one core, from their
  rates over 1 MiB (one stream: sluice's multi-buffer MD5 costs less under load).

    target/venv/bin/python tools/kernel_floor.py --dir DIR [--rounds 3] [--objects 20000] [--batch 24] [--sluice]

DIR must be on the filesystem to measure; a directory is made in it and
removed at the end. Prints a table of medians (µs of CPU). With --sluice,
first measures the release build itself on the same filesystem: server CPU
per 4 KiB PUT at 64 in flight under sluice-bench (each object durable), and
of `sluice serve --null`, rounds alternating (cargo build --release -p
sluice-server -p sluice-bench first).
"""

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = ("fs_floor", "tcp_floor", "list_floor")


def build():
    out = os.path.join(ROOT, "target", "floor")
    os.makedirs(out, exist_ok=True)
    for name in PROGRAMS:
        src = os.path.join(ROOT, "tools", "floor", name + ".c")
        binary = os.path.join(out, name)
        if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(src):
            subprocess.run(["gcc", "-O2", "-Wall", "-o", binary, src], check=True)
    return out


def run(binary, *args):
    r = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(binary)}: {r.stderr.strip()}")
    return [float(x) for x in r.stdout.split()]


def hash_us(name, seconds=0.5):
    """µs to hash 4 KiB with `name`, from the rate over 1 MiB buffers (no
    per-call cost of Python in it)."""
    data = os.urandom(1 << 20)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        hashlib.new(name, data).digest()
        n += 1
    return (time.perf_counter() - t0) / n * 1e6 / 256


def measure_sluice(work, rounds, count):
    """Server CPU per 4 KiB PUT (64 in flight) of sluice and of sluice
    --null on the filesystem of `work`: medians of `rounds` alternating."""
    import benchlib
    secret = "kernel-floor-admin-password"
    env, fs, config = benchlib.make_cluster(os.path.join(work, "sluice"), secret)
    servers, cpu = {}, {}
    try:
        for name, flags in (("sluice", ()), ("sluice-null", ("--null",))):
            port = benchlib.free_port()
            proc = benchlib.start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--insecure-http", *flags)
            servers[name] = (proc, f"127.0.0.1:{port}")
        for r in range(rounds):
            for name, (proc, host) in servers.items():
                rep = benchlib.bench(proc.pid, host, secret, "put", f"floor-{r}-{name}", "--obj.size", "4KiB",
                                     "--concurrent", "64", "--count", str(count))
                cpu.setdefault(name, []).append(rep["server_cpu_s"] / rep["operations"][0]["ops"] * 1e6)
                print(f"round {r}: {name} {cpu[name][-1]:.1f} µs a PUT", flush=True)
    finally:
        for proc, _ in servers.values():
            benchlib.stop_server(proc)
    return {name: statistics.median(v) for name, v in cpu.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--objects", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=24, help="objects a shared syncfs covers")
    ap.add_argument("--keys", type=int, default=5000, help="files of the listed directory")
    ap.add_argument("--sluice", action="store_true", help="measure the release build too, first")
    a = ap.parse_args()
    bins = build()
    work = tempfile.mkdtemp(prefix="kernel-floor-", dir=a.dir)
    rows, ours = {}, {}
    try:
        if a.sluice:
            ours = measure_sluice(work, a.rounds, 10000)
        for r in range(a.rounds):
            for lookups in (0, 1):
                d = os.path.join(work, f"put-{r}-{lookups}")
                os.mkdir(d)
                cpu, _ = run(os.path.join(bins, "fs_floor"), d, a.objects, a.batch, lookups)
                rows.setdefault(lookups, []).append(cpu)
            rows.setdefault("tcp", []).append(run(os.path.join(bins, "tcp_floor"), 64, 300)[0])
            d = os.path.join(work, f"list-{r}")
            os.mkdir(d)
            run(os.path.join(bins, "fs_floor"), d, a.keys, a.batch, 0)
            rows.setdefault("list", []).append(run(os.path.join(bins, "list_floor"), os.path.join(d, "bucket", "prefix"))[0])
            rows.setdefault("hash", []).append(hash_us("sha256") + hash_us("md5"))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m = {k: statistics.median(v) for k, v in rows.items()}
    print()
    print(f"| part | µs of CPU (median of {a.rounds}) |")
    print("| --- | --- |")
    print(f"| files of a 4 KiB PUT: O_TMPFILE, pwrite, xattr, linkat, two syncfs shared by {a.batch} | {m[0]:.1f} |")
    print(f"| the same with a sluice PUT's lookups (bucket, its encryption xattr, parent, flock, fstat, closes) | {m[1]:.1f} |")
    print(f"| loopback TCP of a 4 KiB PUT (4,400 bytes in, 300 out, 64 connections) | {m['tcp']:.1f} |")
    print(f"| SHA-256 and MD5 of 4 KiB, one core (OpenSSL) | {m['hash']:.1f} |")
    print(f"| **a 4 KiB durable PUT, sum of the above with the lookups** | **{m[1] + m['tcp'] + m['hash']:.1f}** |")
    for name, v in ours.items():
        print(f"| {name}: server CPU a 4 KiB PUT, 64 in flight | {v:.1f} |")
    print(f"| a listed key: openat2, fstat, fgetxattr, close ({a.keys} files) | {m['list']:.2f} |")


if __name__ == "__main__":
    main()
