"""s5cmd (Go, aws-sdk-go) and the minio Python SDK against sluice serve."""

import hashlib
import io
import os
import shutil
import subprocess
import sys

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject

MIB = 1024 * 1024


def s5cmd(server, *args, check=True):
    exe = shutil.which("s5cmd", path=os.path.dirname(sys.executable))
    assert exe, "s5cmd is installed into the venv by tools/venv.sh"
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server["access"], AWS_SECRET_ACCESS_KEY=server["secret"], AWS_REGION="us-east-1")
    return subprocess.run([exe, "--endpoint-url", server["endpoint"], *args], env=env, capture_output=True, text=True,
                          check=check, timeout=120)


def test_s5cmd_round_trip_and_multipart(server, tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(100_000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * MIB + 3))
    s5cmd(server, "mb", "s3://s5-bucket")
    s5cmd(server, "cp", str(small), "s3://s5-bucket/dir/small.bin")
    s5cmd(server, "cp", "-p", "5", str(big), "s3://s5-bucket/dir/big.bin")
    listing = s5cmd(server, "ls", "s3://s5-bucket/dir/*").stdout
    assert "small.bin" in listing and "big.bin" in listing
    out = tmp_path / "out"
    out.mkdir()
    s5cmd(server, "cp", "s3://s5-bucket/dir/*", str(out) + "/")
    assert (out / "small.bin").read_bytes() == small.read_bytes()
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    s5cmd(server, "rm", "s3://s5-bucket/dir/*")
    s5cmd(server, "rb", "s3://s5-bucket")


def test_minio_sdk(server, tmp_path):
    host = server["endpoint"][len("http://"):]
    client = Minio(host, access_key=server["access"], secret_key=server["secret"], secure=False, region="us-east-1")
    client.make_bucket("minio-bucket")
    assert client.bucket_exists("minio-bucket")
    data = os.urandom(300_000)
    result = client.put_object("minio-bucket", "a/obj", io.BytesIO(data), len(data), content_type="application/x-mine",
                               metadata={"x-amz-meta-who": "minio"})
    assert result.etag == hashlib.md5(data).hexdigest()
    got = client.get_object("minio-bucket", "a/obj")
    try:
        assert got.read() == data
    finally:
        got.close()
        got.release_conn()
    stat = client.stat_object("minio-bucket", "a/obj")
    assert stat.size == len(data) and stat.content_type == "application/x-mine"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * MIB))
    client.fput_object("minio-bucket", "big", str(big), part_size=5 * MIB)
    back = tmp_path / "back.bin"
    client.fget_object("minio-bucket", "big", str(back))
    assert back.read_bytes() == big.read_bytes()
    names = sorted(o.object_name for o in client.list_objects("minio-bucket", recursive=True))
    assert names == ["a/obj", "big"]
    # Multi-object delete: the SDK's body must carry the digest S3 requires.
    errors = list(client.remove_objects("minio-bucket", [DeleteObject(n) for n in names]))
    assert errors == []
    assert list(client.list_objects("minio-bucket", recursive=True)) == []
    client.remove_bucket("minio-bucket")
    assert not client.bucket_exists("minio-bucket")
