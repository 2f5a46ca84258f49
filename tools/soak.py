#!/usr/bin/env python3
"""The soak of issue 18: a long mixed load with auditing and TLS on.

One `sluice serve` of a cluster on core 0, HTTPS (the cluster's own
certificate, downloaded with `sluice tls download`), the audit webhook on
(a Python http.server in this process takes the events, answering 200);
`sluice-bench mixed` (45% GET, 30% HEAD, 15% PUT, 10% DELETE over objects
of random sizes up to --size) on core 1 over TLS for --minutes, in
segments of --segment minutes (each a sluice-bench run, so that errors
and throughput are seen per segment), plus a multipart segment after each
(sluice-bench multipart, 2 uploads of 3 parts). The server's RSS and open
descriptors are sampled every 5 s, and read after each segment once the
server rested REST seconds (the figures compared).

Verdicts: zero errors in every segment; RSS at the end (after the last
segment) within 10% of RSS after the warm-up (the first segment); open descriptors at the end no
more than after the warm-up; every audit event the server made delivered
to the webhook (the webhook's count equals the server's
`sluice_audit_delivered_total`, which equals `sluice_audit_events_total`,
with none dropped), and the server's count of answered requests equals
the events. Exit status 0 when they all hold.

    cargo build --release -p sluice-server -p sluice-bench
    target/venv/bin/python tools/soak.py [--minutes 30] [--segment 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from benchlib import BENCH, ROOT, SLUICE, Sink, free_port, make_cluster, scrape, start_server, start_sink, stop_server

WORK = os.path.join(ROOT, "target", "soak")
SECRET = "soak-admin-password"
REST = 5  # seconds at rest before a segment's RSS and descriptors are read


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def smaps_kib(pid, field):
    """A field of /proc/PID/smaps_rollup (Anonymous, AnonHugePages), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_bench(pid, host, ca, kind, seconds, *args):
    cmd = ["taskset", "-c", "1", BENCH, kind, "--host", host, "--access-key", "admin", "--secret-key", SECRET,
           "--cores", "1", "--server-pid", str(pid), "--json", "--bucket", "soak", "--tls", "--cacert", ca,
           "--duration", f"{seconds}s", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600)
    if r.returncode != 0:
        return {"failed": r.stderr[-2000:]}
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--segment", type=float, default=3, help="minutes per sluice-bench run")
    ap.add_argument("--size", default="256KiB", help="largest object of the mixed load")
    ap.add_argument("--concurrent", type=int, default=32)
    args = ap.parse_args()
    env, fs, config = make_cluster(WORK, SECRET)
    ca = os.path.join(WORK, "ca.pem")
    subprocess.run([SLUICE, "tls", "download", ca], env=env, check=True, capture_output=True)
    subprocess.run([SLUICE, "audit-webhook", "enable", "--url", start_sink()[0]],
                   env=env, check=True, capture_output=True)
    port, metrics = free_port(), free_port()
    proc = start_server(env, fs, config, "--listen", f"127.0.0.1:{port}", "--metrics-listen", f"127.0.0.1:{metrics}")
    pid = proc.pid
    host = f"127.0.0.1:{port}"
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.monotonic(), status_kib(pid, "VmRSS"), fds(pid)))
            stop.wait(5)

    sampler = threading.Thread(target=sample, daemon=True)
    segments = []
    verdicts = []
    started = time.monotonic()
    try:
        sampler.start()
        seconds = int(args.segment * 60)
        total = args.minutes * 60
        while time.monotonic() - started < total - 1:
            left = int(total - (time.monotonic() - started))
            n = min(seconds, left)
            if n < 10:
                break
            rep = run_bench(pid, host, ca, "mixed", n, "--obj.size", args.size, "--obj.randsize",
                            "--objects", "500", "--concurrent", str(args.concurrent))
            mpu = run_bench(pid, host, ca, "multipart", 60, "--obj.size", "15MiB", "--part.size", "5MiB",
                            "--concurrent", "2", "--count", "2")
            # At rest for a few seconds (the allocator returns what it
            # cached), so that RSS figures of segments compare.
            time.sleep(REST)
            seg = {"at_s": round(time.monotonic() - started), "rss_kib": status_kib(pid, "VmRSS"), "fds": fds(pid),
                   "anon_kib": smaps_kib(pid, "Anonymous"), "anon_huge_kib": smaps_kib(pid, "AnonHugePages")}
            for name, r in (("mixed", rep), ("multipart", mpu)):
                if "failed" in r:
                    seg[name] = {"failed": r["failed"]}
                    continue
                ops = sum(o["ops"] for o in r["operations"])
                errors = {k: v for o in r["operations"] for k, v in o["errors"].items()}
                seg[name] = {"ops": ops, "ops_s": round(ops / r["seconds"]), "errors": errors}
            segments.append(seg)
            print(json.dumps(seg), flush=True)
            if len(segments) == 1:
                warm = (seg["rss_kib"], seg["fds"])
        # The audit trail: every event delivered.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = scrape(f"127.0.0.1:{metrics}")
            if m.get("sluice_audit_delivered_total") == m.get("sluice_audit_events_total") \
                    and Sink.events == m.get("sluice_audit_delivered_total"):
                break
            time.sleep(0.5)
        m = scrape(f"127.0.0.1:{metrics}")
        requests = sum(v for k, v in m.items() if k.startswith("sluice_requests_total"))
        end = (segments[-1]["rss_kib"], segments[-1]["fds"])
    finally:
        stop.set()
        stop_server(proc)
    rss = [s[1] for s in samples]
    fig = {
        "minutes": round((time.monotonic() - started) / 60, 1),
        "segments": len(segments),
        "operations": sum(s.get(k, {}).get("ops", 0) for s in segments for k in ("mixed", "multipart")),
        "mixed_ops_s": [s["mixed"].get("ops_s") for s in segments],
        "rss_kib_after_warmup": warm[0], "rss_kib_end": end[0], "rss_kib_max": max(rss), "rss_kib_min": min(rss),
        "fds_after_warmup": warm[1], "fds_end": end[1], "fds_max": max(s[2] for s in samples),
        "audit_events": m.get("sluice_audit_events_total"), "audit_delivered": m.get("sluice_audit_delivered_total"),
        "audit_dropped": m.get("sluice_audit_dropped_total"), "webhook_received": Sink.events,
        "requests_answered": requests,
    }
    errors = [(s["at_s"], k, s[k]) for s in segments for k in ("mixed", "multipart")
              if "failed" in s[k] or s[k]["errors"]]
    verdicts.append((f"zero errors in {len(segments)} segments", not errors))
    verdicts.append((f"RSS at the end within 10% of after the warm-up ({end[0]} vs {warm[0]} KiB)",
                     end[0] <= warm[0] * 1.10))
    verdicts.append((f"no growth of open descriptors ({end[1]} vs {warm[1]})", end[1] <= warm[1]))
    verdicts.append(("every audit event delivered, none dropped",
                     fig["audit_events"] == fig["audit_delivered"] == Sink.events and not fig["audit_dropped"]))
    verdicts.append(("an audit event per answered request", fig["audit_events"] == requests))
    for name, ok in verdicts:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    if errors:
        print("errors:", errors)
    print(json.dumps(fig, indent=1))
    if all(ok for _, ok in verdicts):
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        print(f"work directory kept: {WORK}")
        sys.exit(1)


if __name__ == "__main__":
    main()
