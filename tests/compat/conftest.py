"""Starts a real `sluice serve` on a free port of 127.0.0.1 with a fresh
root for the test session, and stops it by PID afterwards."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_sluice(root, *extra):
    """Starts `sluice serve` on a free port with `root`; returns endpoint,
    keys, root and the process (to stop by PID)."""
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
    # The suite sends wrong signatures on purpose, all from 127.0.0.1: the
    # failed-authentication throttle has its own test (test_auth_throttle).
    if "--auth-failure-limit" not in extra:
        extra = (*extra, "--auth-failure-limit", "1000000")
    if not os.path.exists(binary):
        raise RuntimeError(f"{binary} not built: run tools/test.sh (or cargo build -p sluice-server)")
    proc = subprocess.Popen(
        [binary, "serve", "--root", str(root), "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    deadline = time.time() + 30
    info = {}
    while time.time() < deadline and len(info) < 3:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if m := re.search(r"http://([0-9.]+:[0-9]+)", line):
            info["endpoint"] = "http://" + m.group(1)
        if m := re.search(r"access key: (\S+)", line):
            info["access"] = m.group(1)
        if m := re.search(r"secret key: (\S+)", line):
            info["secret"] = m.group(1)
    if len(info) < 3:
        proc.kill()
        proc.wait()
        raise RuntimeError("sluice did not start:\n" + "".join(lines))
    info["root"] = str(root)
    info["proc"] = proc
    # Keep reading what the server prints (logs, warnings), or a full pipe
    # would block it.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return info


def stop_sluice(info):
    proc = info["proc"]
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server():
    root = tempfile.mkdtemp(prefix="sluice-compat-", dir=os.path.join(ROOT, "target"))
    info = start_sluice(root)
    yield info
    stop_sluice(info)
    shutil.rmtree(root, ignore_errors=True)


def make_client(server, **config):
    return boto3.client(
        "s3",
        endpoint_url=server["endpoint"],
        aws_access_key_id=server["access"],
        aws_secret_access_key=server["secret"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


@pytest.fixture(scope="session")
def s3(server):
    return make_client(server)


_counter = [0]


@pytest.fixture
def bucket(s3):
    _counter[0] += 1
    name = f"test-bucket-{os.getpid()}-{_counter[0]}"
    s3.create_bucket(Bucket=name)
    return name
