"""Crash campaign (issue 18): a load of PUTs, overwrites, multipart uploads
with re-uploaded parts, Completes, copies and deletes against a real
`sluice serve`, which is killed with SIGKILL at random moments and started
again, `--kills` times. After every restart each key is checked against
what the clients were told:

- every acknowledged write reads back with its exact bytes (or a write to
  the key that was in flight at the kill, whole);
- no object is partial (every body names its key, version and size);
- no acknowledged delete comes back;
- at the end, after a restart with a short `--stale-upload-age`, the
  multipart uploads the kills abandoned and the temporary files are gone.

Each worker thread owns its keys, so the state of every key is known
exactly but for the one operation a kill interrupts, which may or may not
have happened.

    cargo build -p sluice-server
    target/venv/bin/python tools/crash_campaign.py --kills 100 [--encrypt]
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024
ABSENT = None
SECRET = "crash-campaign-secret"


def body_of(key, version, size):
    """Version `version` of `key`: a head naming them and the size, then
    bytes derived from all three."""
    head = f"{key}#{version}#{size}#".encode()
    fill = hashlib.sha256(head).digest() * (size // 32 + 2)
    return (head + fill)[:size] if size >= len(head) else head[:size]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sluice serve` of a cluster on a fixed port, killed and restarted."""

    def __init__(self, binary, work, encrypt, stale_age):
        self.binary, self.work = binary, work
        self.env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(work, "xdg"))
        self.env.pop("SLUICE_CONFIG_DIR", None)
        self.root = os.path.join(work, "fs")
        self.config = os.path.join(self.root, ".config_fs")
        pw = os.path.join(work, "pw")
        with open(pw, "w") as f:
            f.write(SECRET + "\n")
        subprocess.run([binary, "cluster", "create", "--root", self.root, "--config-dir", self.config,
                        "--root-password-file", pw], env=self.env, check=True, capture_output=True)
        self.port = free_port()
        self.extra = ["--encrypt"] if encrypt else []
        self.stale_age = stale_age
        self.proc = None

    def start(self, stale_age=None):
        age = str(stale_age or self.stale_age)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--root", self.root, "--config-dir", self.config, "--insecure-http",
             "--listen", f"127.0.0.1:{self.port}", "--stale-upload-age", age, "--log-level", "warn", *self.extra],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        while line := self.proc.stdout.readline():
            lines.append(line)
            if "users:" in line:
                threading.Thread(target=lambda p=self.proc: [None for _ in p.stdout], daemon=True).start()
                return
        raise RuntimeError("sluice did not start:\n" + "".join(lines))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def client(self):
        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id="admin",
                            aws_secret_access_key=SECRET, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=2, read_timeout=60))


class Worker:
    """One client thread and the keys it owns: `state[key]` is what the key
    holds, (key written, version) (a copy holds its source's), or ABSENT;
    exact between rounds; `maybe` what a kill left undecided."""

    def __init__(self, n, keys):
        self.n = n
        self.keys = [f"w{n}/k{i}" for i in range(keys)]
        self.state = {k: ABSENT for k in self.keys}
        self.sizes = {}
        self.maybe = {}
        self.seq = 0
        self.ops = 0
        self.errors = []

    def next_version(self, size):
        self.seq += 1
        version = f"{self.n}.{self.seq}"
        self.sizes[version] = size
        return version

    def round(self, s3, stop, rnd):
        """Operations until the server goes away or `stop` is set."""
        while not stop.is_set():
            key = rnd.choice(self.keys)
            op = rnd.choices(["put", "mpu", "copy", "delete"], weights=[6, 1, 2, 2])[0]
            try:
                if op == "put":
                    size = rnd.choice([0, 1, 999, 64 * 1024, MIB + 7, 3 * MIB])
                    version = self.next_version(size)
                    self.maybe = {key: (key, version)}
                    s3.put_object(Bucket="crash", Key=key, Body=body_of(key, version, size))
                    self.state[key] = (key, version)
                elif op == "mpu":
                    size = 5 * MIB + rnd.randrange(1, 200_000)
                    version = self.next_version(size)
                    data = body_of(key, version, size)
                    self.maybe = {key: (key, version)}
                    up = s3.create_multipart_upload(Bucket="crash", Key=key)["UploadId"]
                    # Part 1 first with other bytes, then again with its own.
                    s3.upload_part(Bucket="crash", Key=key, UploadId=up, PartNumber=1, Body=os.urandom(5 * MIB))
                    e2 = s3.upload_part(Bucket="crash", Key=key, UploadId=up, PartNumber=2,
                                        Body=data[5 * MIB:])["ETag"]
                    e1 = s3.upload_part(Bucket="crash", Key=key, UploadId=up, PartNumber=1,
                                        Body=data[:5 * MIB])["ETag"]
                    s3.complete_multipart_upload(Bucket="crash", Key=key, UploadId=up, MultipartUpload={
                        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
                    self.state[key] = (key, version)
                elif op == "copy":
                    src = rnd.choice(self.keys)
                    if src == key or self.state[src] is ABSENT:
                        continue
                    self.maybe = {key: self.state[src]}
                    s3.copy_object(Bucket="crash", Key=key, CopySource={"Bucket": "crash", "Key": src})
                    self.state[key] = self.state[src]
                else:
                    self.maybe = {key: ABSENT}
                    s3.delete_object(Bucket="crash", Key=key)
                    self.state[key] = ABSENT
                self.maybe = {}
                self.ops += 1
            except (BotoCoreError, ClientError, ConnectionError) as e:
                if isinstance(e, ClientError):
                    # An S3 error is an answer of a running server: a
                    # finding, whatever it says.
                    self.errors.append(f"{key} {op}: {e}")
                return

    def content(self, written):
        key, version = written
        return body_of(key, version, self.sizes[version])

    def verify(self, s3):
        """Each key holds its known version, or the undecided one; the
        state becomes what is there. Returns the problems found."""
        problems = []
        for key in self.keys:
            allowed = {self.state[key]}
            if key in self.maybe:
                allowed.add(self.maybe[key])
            try:
                data = s3.get_object(Bucket="crash", Key=key)["Body"].read()
            except ClientError as e:
                if e.response["Error"]["Code"] != "NoSuchKey":
                    problems.append(f"{key}: {e}")
                    continue
                if ABSENT not in allowed:
                    problems.append(f"{key}: gone, but it holds {self.state[key]} (acknowledged)")
                    continue
                self.state[key] = ABSENT
                continue
            match = [c for c in allowed if c is not ABSENT and data == self.content(c)]
            if not match:
                head = data[:60]
                problems.append(f"{key}: holds {len(data)} bytes starting {head!r}: not one whole version of "
                                f"{sorted(map(str, allowed))}")
                continue
            self.state[key] = match[0]
        self.maybe = {}
        return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--keys", type=int, default=8, help="keys per worker")
    ap.add_argument("--encrypt", action="store_true", help="serve with --encrypt (every object SSE-S3)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--binary", default=os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice")))
    ap.add_argument("--max-uptime", type=float, default=2.0, help="longest run between kills, seconds")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    work = tempfile.mkdtemp(prefix="sluice-crash-", dir=os.path.join(ROOT, "target"))
    server = Server(args.binary, work, args.encrypt, stale_age=3600)
    workers = [Worker(n, args.keys) for n in range(args.workers)]
    problems = []
    started = time.time()
    try:
        server.start()
        server.client().create_bucket(Bucket="crash")
        for k in range(args.kills):
            stop = threading.Event()
            threads = [threading.Thread(target=w.round, args=(server.client(), stop, random.Random(rnd.random())))
                       for w in workers]
            [t.start() for t in threads]
            time.sleep(rnd.uniform(0.05, args.max_uptime))
            server.kill()
            stop.set()
            [t.join(timeout=120) for t in threads]
            server.start()
            s3 = server.client()
            for w in workers:
                found = w.verify(s3)
                problems += [f"after kill {k + 1}: {p}" for p in found]
            if problems:
                break
        # Nothing but the workers' keys is listed, and each whole (verify
        # read them all); abandoned uploads and temporaries go at the stale
        # age.
        s3 = server.client()
        listed = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash"):
            listed |= {o["Key"] for o in page.get("Contents", [])}
        expected = {k for w in workers for k, v in w.state.items() if v is not ABSENT}
        if listed != expected:
            problems.append(f"listing differs: extra {sorted(listed - expected)[:5]}, "
                            f"missing {sorted(expected - listed)[:5]}")
        open_uploads = len(s3.list_multipart_uploads(Bucket="crash").get("Uploads", []))
        server.stop()
        time.sleep(2.5)
        server.start(stale_age=2)
        time.sleep(1)
        s3 = server.client()
        left_uploads = len(s3.list_multipart_uploads(Bucket="crash").get("Uploads", []))
        tmp = os.path.join(server.root, ".sluice", "tmp")
        left_tmp = [n for n in os.listdir(tmp) if not n.startswith(".sluice-ready")] if os.path.isdir(tmp) else []
        if left_uploads:
            problems.append(f"{left_uploads} abandoned multipart uploads left after the stale age")
        if left_tmp:
            problems.append(f"temporary files left after the stale age: {left_tmp[:5]}")
        staging = os.path.join(server.root, ".sluice", "multipart")
        left_staging = os.listdir(staging) if os.path.isdir(staging) else []
        if left_staging:
            problems.append(f"multipart staging left after the stale age: {left_staging[:5]}")
        for w in workers:
            problems += [f"final: {p}" for p in w.verify(s3)]
        errors = [e for w in workers for e in w.errors]
        ops = sum(w.ops for w in workers)
        print(f"seed {seed}: {args.kills} kills{' (encrypted)' if args.encrypt else ''}, {ops} acknowledged "
              f"operations, {len(expected)} objects at the end, {open_uploads} uploads abandoned by kills "
              f"(removed at the stale age), {time.time() - started:.0f} s")
        if errors:
            problems += [f"S3 error while serving: {e}" for e in errors[:5]]
    finally:
        server.stop()
    if problems:
        print("PROBLEMS:")
        for p in problems[:20]:
            print("  " + p)
        print(f"(work directory kept: {work})")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("no acknowledged write lost, no partial object, no deleted object back")


if __name__ == "__main__":
    main()
