"""The scaling figure of issue 17: aggregate 4 KiB PUT and GET ops/s and
64 MiB GET MiB/s through haproxy with 1, 2 and 3 sluice nodes, in one run,
with the CPU seconds of every process involved (the nodes, haproxy,
sluice-bench) so that the table says where the time goes.

Each node runs in its own network namespace (root) or on its own loopback
port, over one shared root and config directory, like
tests/compat/test_cluster_haproxy.py; haproxy balances connections round
robin (mode tcp, splice-auto, send-proxy-v2: as docs/DEPLOY.md configures it).

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/cluster_bench.py [--rounds 1]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BENCH, SLUICE, make_cluster  # noqa: E402
from clusterlib import Balancer, Hosts  # noqa: E402

SECRET = "cluster-bench-secret"


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_node(env, fs, config, hosts, i):
    # haproxy connects from the host end of the node's veth pair (or loopback).
    balancer = "127.0.0.1" if hosts.loopback_because else hosts.addrs[i].rsplit(".", 1)[0] + ".1"
    proc = subprocess.Popen([*hosts.prefix(i), SLUICE, "serve", "--root", fs, "--config-dir", config,
                             "--listen", hosts.listen(i), "--insecure-http", "--node-name", f"bench{i}",
                             "--log-level", "warn", "--proxy-protocol-from", balancer],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoint = None
    while line := proc.stdout.readline():
        if m := re.search(r" on https?://([0-9.]+:[0-9]+)", line):
            endpoint = m.group(1)
        if "users:" in line:
            break
    if endpoint is None:
        sys.exit("a node did not start")
    return proc, endpoint


def run_bench(lb, pids, kind, bucket, *args):
    """One sluice-bench run through the balancer; its report and the CPU
    seconds each process spent in its measured phase (after the objects a
    GET reads were uploaded)."""
    cmd = [BENCH, kind, "--host", lb, "--access-key", "admin", "--secret-key", SECRET, "--json",
           "--bucket", bucket, "--noclear", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kind == "get":
        while (line := proc.stderr.readline()) and not line.startswith("prepared "):
            pass
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    out, err = proc.communicate(timeout=900)
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    if proc.returncode != 0:
        raise RuntimeError(f"sluice-bench {kind}: {err[-2000:]}")
    rep = json.loads(out)
    errors = {k: v for o in rep["operations"] for k, v in o["errors"].items()}
    if errors:
        raise RuntimeError(f"sluice-bench {kind}: errors {errors}")
    spent["client"] = rep["client_cpu_s"]
    return rep, spent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(SLUICE), "..", "cluster-bench"))
    ap.add_argument("--nodes", default="1,2,3")
    ap.add_argument("--small-count", type=int, default=20000)
    args = ap.parse_args()
    for exe in (SLUICE, BENCH):
        if not os.path.exists(exe):
            sys.exit(f"{exe} is missing: cargo build --release -p sluice-server -p sluice-bench")
    work = os.path.abspath(args.work)
    removed = os.path.exists(work)
    env, fs, config = make_cluster(work, SECRET)
    if removed:
        # ext4 creates files slowly for a while after mass deletes (the last
        # run's objects were just removed): wait it out, as compare_peers.py.
        print("(waiting 30 s after removing the last run's objects)", flush=True)
        time.sleep(30)
    hosts = Hosts(3)
    print("hosts:", "loopback (" + hosts.loopback_because + ")" if hosts.loopback_because
          else "one network namespace each", flush=True)
    rows = []
    try:
        for n in [int(x) for x in args.nodes.split(",")]:
            nodes = [start_node(env, fs, config, hosts, i) for i in range(n)]
            lb = Balancer([(f"node{i}", nodes[i][1]) for i in range(n)], mode="tcp", send_proxy=True)
            pids = {f"node{i}": nodes[i][0].pid for i in range(n)}
            pids["haproxy"] = lb.proc.pid
            try:
                host = lb.endpoint[len("http://"):]
                r = {}
                small = ["--obj.size", "4KiB", "--concurrent", "32"]
                rep, spent = run_bench(host, pids, "put", f"put-{n}", *small, "--count", str(args.small_count))
                r["put"] = (rep, spent)
                rep, spent = run_bench(host, pids, "get", f"get-{n}", *small, "--objects", "2000",
                                       "--count", str(args.small_count * 2))
                r["get"] = (rep, spent)
                rep, spent = run_bench(host, pids, "get", f"large-{n}", "--obj.size", "64MiB", "--objects", "6",
                                       "--concurrent", "6", "--count", "48")
                r["large"] = (rep, spent)
                rows.append((n, r))
                for kind, (rep, spent) in r.items():
                    ops = sum(o["ops"] for o in rep["operations"])
                    mib = sum(o["bytes"] for o in rep["operations"]) / (1 << 20)
                    print(f"{n} node(s) {kind:5}: {ops / rep['seconds']:9.0f} ops/s {mib / rep['seconds']:8.1f} MiB/s "
                          + " ".join(f"{k} {v:.2f}s" for k, v in spent.items()), flush=True)
            finally:
                lb.close()
                for proc, _ in nodes:
                    proc.terminate()
                    proc.wait(timeout=30)
                time.sleep(0.5)
    finally:
        hosts.close()
    print()
    print("| nodes | 4 KiB PUT ops/s | 4 KiB GET ops/s | 64 MiB GET MiB/s | CPU per 4 KiB PUT, µs: nodes / haproxy / "
          "client | per 4 KiB GET, µs | per GiB of 64 MiB GET, s |")
    print("|---|---|---|---|---|---|---|")
    for n, r in rows:
        def total(kind, field):
            return sum(o[field] for o in r[kind][0]["operations"])

        def cost(kind, per_op):
            """CPU of the nodes, haproxy and the client: µs per operation, or
            seconds per GiB."""
            spent = r[kind][1]
            node = sum(v for k, v in spent.items() if k.startswith("node"))
            if per_op:
                return " / ".join(f"{v / total(kind, 'ops') * 1e6:.0f}" for v in (node, spent["haproxy"], spent["client"]))
            gib = total(kind, "bytes") / (1 << 30)
            return " / ".join(f"{v / gib:.2f}" for v in (node, spent["haproxy"], spent["client"]))

        secs = {k: r[k][0]["seconds"] for k in r}
        print(f"| {n} | {total('put', 'ops') / secs['put']:,.0f} | {total('get', 'ops') / secs['get']:,.0f} | "
              f"{total('large', 'bytes') / (1 << 20) / secs['large']:,.0f} | {cost('put', True)} | {cost('get', True)} | "
              f"{cost('large', False)} |")


if __name__ == "__main__":
    main()
