"""The `sluice` command line (issue 11): help and version, flags refused
before anything is created on disk, a port another process listens on,
root credentials from the environment, the secret shown only once."""

import os
import re
import socket
import subprocess

import boto3
from botocore.config import Config

from conftest import ROOT, start_sluice, stop_sluice

BIN = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))


def sluice(*args, env=None, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30, env=env, cwd=cwd)


def test_version_and_help_exit_0_on_stdout():
    v = sluice("--version")
    assert v.returncode == 0 and re.match(r"sluice \d+\.\d+\.\d+", v.stdout), v
    for args in (["--help"], ["help", "serve"], ["serve", "--help"]):
        h = sluice(*args)
        assert h.returncode == 0, h
        assert "Usage:" in h.stdout and h.stderr == ""
    serve_help = sluice("help", "serve").stdout
    for flag in ("--root", "--listen", "--cores", "--domain", "--region", "--header-timeout", "--idle-timeout",
                 "--null", "--log-level", "--log-format"):
        assert flag in serve_help, flag
    assert "[default: 127.0.0.1:9000]" in serve_help


def test_bad_flags_fail_before_anything_is_created(tmp_path):
    root = tmp_path / "never"
    for bad in (["--cores", "4096"], ["--cores", "x"], ["--header-timeout=-1"], ["--idle-timeout", "NaN"],
                ["--idle-timeout", "inf"], ["--listen", "nonsense"], ["--listen", ":99999"], ["--log-format", "xml"],
                ["--no-such-flag"]):
        r = sluice("serve", "--root", str(root), *bad)
        assert r.returncode != 0, bad
        assert r.stderr, bad
        assert not root.exists(), f"{bad} created the root"


def test_a_root_that_is_a_file_is_named_as_such(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = sluice("serve", "--root", str(f), "--listen", "127.0.0.1:0")
    assert r.returncode != 0
    assert "is not a directory" in r.stderr and str(f) in r.stderr, r.stderr


def test_a_port_in_use_is_refused_naming_the_address(tmp_path):
    """Regression: with SO_REUSEPORT a second server silently shared the
    port and clients got the other one's answers half of the time."""
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", 0))
    other.listen()
    port = other.getsockname()[1]
    try:
        r = sluice("serve", "--root", str(tmp_path / "r"), "--listen", f"127.0.0.1:{port}")
    finally:
        other.close()
    assert r.returncode != 0
    assert f"127.0.0.1:{port}" in r.stderr and "already" in r.stderr, r.stderr
    assert not (tmp_path / "r").exists()


def test_the_secret_is_shown_once_and_env_credentials_work(tmp_path):
    root = tmp_path / "root"
    first = start_sluice(root)
    stop_sluice(first)
    # A second start on the same root reuses the key and does not print the secret.
    proc = subprocess.Popen([BIN, "serve", "--root", str(root), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = "".join(lines)
    assert first["access"] in text, text
    assert first["secret"] not in text, text
    assert "root-credentials" in text
    # SLUICE_ROOT_USER / SLUICE_ROOT_PASSWORD set the root key (MinIO's habit).
    env = dict(os.environ, SLUICE_ROOT_USER="envadmin", SLUICE_ROOT_PASSWORD="env-secret-123")
    proc = subprocess.Popen([BIN, "serve", "--root", str(tmp_path / "env"), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        banner = proc.stdout.readline()
        endpoint = re.search(r"http://[0-9.:]+", banner).group(0)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="envadmin",
                          aws_secret_access_key="env-secret-123", region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="from-env")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["from-env"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    only_one = dict(os.environ, SLUICE_ROOT_USER="envadmin")
    only_one.pop("SLUICE_ROOT_PASSWORD", None)
    r = sluice("serve", "--root", str(tmp_path / "one"), "--listen", "127.0.0.1:0", env=only_one)
    assert r.returncode != 0 and "SLUICE_ROOT_PASSWORD" in r.stderr


def test_debug_logs_one_line_per_request_without_secrets(tmp_path):
    proc = subprocess.Popen([BIN, "--log-level", "debug", "--log-format", "json", "serve", "--root",
                             str(tmp_path / "r"), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = {}
        while len(info) < 3:
            line = proc.stdout.readline()
            if m := re.search(r"http://([0-9.]+:[0-9]+)", line):
                info["endpoint"] = "http://" + m.group(1)
            if m := re.search(r"access key: (\S+)", line):
                info["access"] = m.group(1)
            if m := re.search(r"secret key: (\S+)", line):
                info["secret"] = m.group(1)
        s3 = boto3.client("s3", endpoint_url=info["endpoint"], aws_access_key_id=info["access"],
                          aws_secret_access_key=info["secret"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="k", Body=b"12345")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    import json
    events = [json.loads(l) for l in err.splitlines() if l.startswith("{")]
    serving = [e for e in events if e["fields"].get("message") == "serving"]
    assert serving and serving[0]["level"] == "INFO"
    requests = [e["fields"] for e in events if e["fields"].get("message") == "request"]
    put = [r for r in requests if r["operation"] == "PutObject"]
    assert len(put) == 1, requests
    assert put[0]["status"] == 200 and put[0]["bucket"] == "logged" and put[0]["key"] == "k"
    assert put[0]["access_key"] == info["access"] and put[0]["bytes_in"] > 5 and put[0]["request_id"]
    assert info["secret"] not in err
