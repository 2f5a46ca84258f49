"""aws-cli (v1, from PyPI) against a real `sluice serve`."""

import os
import subprocess
import sys


def aws(server, *args, check=True):
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": server["access"],
        "AWS_SECRET_ACCESS_KEY": server["secret"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    cmd = [sys.executable, "-m", "awscli", "--endpoint-url", server["endpoint"], *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=check, timeout=120)


def test_mb_cp_ls_rm_rb(server, tmp_path):
    src = tmp_path / "cat.jpg"
    src.write_bytes(os.urandom(300_000))
    aws(server, "s3", "mb", "s3://cli-photos")
    aws(server, "s3", "cp", str(src), "s3://cli-photos/2026/cat.jpg")
    listing = aws(server, "s3", "ls", "s3://cli-photos/2026/").stdout
    assert "cat.jpg" in listing and "300000" in listing
    with open(os.path.join(server["root"], "cli-photos", "2026", "cat.jpg"), "rb") as f:
        assert f.read() == src.read_bytes(), "the object is a plain file"
    back = tmp_path / "back.jpg"
    aws(server, "s3", "cp", "s3://cli-photos/2026/cat.jpg", str(back))
    assert back.read_bytes() == src.read_bytes()
    head = aws(server, "s3api", "head-object", "--bucket", "cli-photos", "--key", "2026/cat.jpg").stdout
    assert '"ContentLength": 300000' in head
    aws(server, "s3", "rm", "s3://cli-photos/2026/cat.jpg")
    aws(server, "s3", "rb", "s3://cli-photos")
    missing = aws(server, "s3", "ls", "s3://cli-photos", check=False)
    assert missing.returncode != 0 and "NoSuchBucket" in missing.stderr
