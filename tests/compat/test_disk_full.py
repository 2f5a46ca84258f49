"""A full filesystem (issue 18): sluice serves a small ext4 made by the
test on a loop device. A write that finds no room is answered 503
ServiceUnavailable (a 5xx that SDKs retry: space can come back; 507 would
not be retried), leaves nothing behind (no partial object, the key's old
object intact, no space held), GETs keep working, and writes work again
once space is freed. The same when the inodes run out. Before, the client
got 500 InternalError."""

import os
import shutil
import subprocess
import tempfile
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import make_client, start_sluice, stop_sluice

MIB = 1024 * 1024


def can_mount():
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") and shutil.which("losetup") and os.path.exists(
        "/dev/loop-control")


pytestmark = pytest.mark.skipif(not can_mount(), reason="mounting a loop filesystem needs root, e2fsprogs and loop "
                                                        "devices")


@pytest.fixture
def small_fs():
    """Mounts a fresh ext4 of `size_mib` (and `inodes`, if given) and
    yields its path; unmounted afterwards."""
    mounts = []

    def make(size_mib, inodes=None):
        d = tempfile.mkdtemp(prefix="sluice-full-")
        img = d + ".img"
        with open(img, "wb") as f:
            f.truncate(size_mib * MIB)
        extra = ["-N", str(inodes)] if inodes else []
        subprocess.run(["mkfs.ext4", "-q", "-F", *extra, img], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", img, d], check=True, capture_output=True)
        mounts.append((d, img))
        return d

    yield make
    for d, img in mounts:
        subprocess.run(["umount", d], capture_output=True)
        os.rmdir(d)
        os.remove(img)


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return "ok", 200


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_full_filesystem_refuses_writes_cleanly_and_recovers(small_fs):
    root = small_fs(64)
    info = start_sluice(root, "--cores", "0")
    try:
        s3 = make_client(info)
        s3.create_bucket(Bucket="full")
        s3.put_object(Bucket="full", Key="keep", Body=b"the old object")
        stored = {}
        i = 0
        while True:
            body = os.urandom(8 * MIB)
            got = code(lambda: s3.put_object(Bucket="full", Key=f"o{i}", Body=body))
            if got != ("ok", 200):
                break
            stored[f"o{i}"] = body
            i += 1
            assert i < 20, "the filesystem never filled"
        assert got == ("ServiceUnavailable", 503), got
        assert code(lambda: s3.head_object(Bucket="full", Key=f"o{i}")) == ("404", 404)
        # The refused write holds no space, leaves no temporary.
        before = free_bytes(root)
        assert code(lambda: s3.put_object(Bucket="full", Key="big", Body=os.urandom(8 * MIB))) == \
            ("ServiceUnavailable", 503)
        # (The unnamed temporary's blocks go back when its descriptor is
        # closed, which the runtime does just after the answer.)
        deadline = time.time() + 5
        while free_bytes(root) < before - 64 * 1024:
            assert time.time() < deadline, f"the refused write holds space: {free_bytes(root)} of {before} free"
            time.sleep(0.05)
        assert not os.listdir(os.path.join(root, ".sluice", "tmp")) if os.path.isdir(
            os.path.join(root, ".sluice", "tmp")) else True
        # An overwrite that does not fit leaves the old object whole.
        assert code(lambda: s3.put_object(Bucket="full", Key="keep", Body=os.urandom(8 * MIB))) == \
            ("ServiceUnavailable", 503)
        assert s3.get_object(Bucket="full", Key="keep")["Body"].read() == b"the old object"
        # A multipart part that does not fit is refused the same way.
        up = s3.create_multipart_upload(Bucket="full", Key="mp")["UploadId"]
        assert code(lambda: s3.upload_part(Bucket="full", Key="mp", UploadId=up, PartNumber=1,
                                           Body=os.urandom(8 * MIB))) == ("ServiceUnavailable", 503)
        # SDKs retry it (botocore's standard mode), then give up with it.
        retrying = boto3.client("s3", endpoint_url=info["endpoint"], aws_access_key_id=info["access"],
                                aws_secret_access_key=info["secret"], region_name="us-east-1",
                                config=Config(s3={"addressing_style": "path"},
                                              retries={"max_attempts": 3, "mode": "standard"}))
        try:
            retrying.put_object(Bucket="full", Key="big", Body=os.urandom(8 * MIB))
            raise AssertionError("a write fitted in a full filesystem")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ServiceUnavailable"
            assert e.response["ResponseMetadata"]["RetryAttempts"] >= 1
        # Reads go on.
        for key, body in stored.items():
            assert s3.get_object(Bucket="full", Key=key)["Body"].read() == body
        assert {o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]} == set(stored) | {"keep"}
        # Space freed: writes work again, multipart too.
        for key in list(stored)[:3]:
            s3.delete_object(Bucket="full", Key=key)
        body = os.urandom(8 * MIB)
        s3.put_object(Bucket="full", Key="again", Body=body)
        assert s3.get_object(Bucket="full", Key="again")["Body"].read() == body
        part = os.urandom(5 * MIB)
        e1 = s3.upload_part(Bucket="full", Key="mp", UploadId=up, PartNumber=1, Body=part)["ETag"]
        s3.complete_multipart_upload(Bucket="full", Key="mp", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
        assert s3.get_object(Bucket="full", Key="mp")["Body"].read() == part
    finally:
        stop_sluice(info)


def test_out_of_inodes_is_refused_the_same_way(small_fs):
    root = small_fs(32, inodes=64)
    info = start_sluice(root, "--cores", "0")
    try:
        s3 = make_client(info)
        s3.create_bucket(Bucket="few")
        made = []
        for i in range(200):
            got = code(lambda: s3.put_object(Bucket="few", Key=f"k{i}", Body=b"%d" % i))
            if got != ("ok", 200):
                break
            made.append(i)
        assert got == ("ServiceUnavailable", 503), got
        assert made, "nothing could be written at all"
        for i in made:
            assert s3.get_object(Bucket="few", Key=f"k{i}")["Body"].read() == b"%d" % i
        s3.delete_object(Bucket="few", Key=f"k{made[0]}")
        s3.put_object(Bucket="few", Key="after", Body=b"room again")
        assert s3.get_object(Bucket="few", Key="after")["Body"].read() == b"room again"
    finally:
        stop_sluice(info)
