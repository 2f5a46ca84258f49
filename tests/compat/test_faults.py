"""Injected I/O errors (issue 18): a debug build of sluice fails a share of
its data reads, data writes, fsyncs and publishes with EIO when
`SLUICE_FAULTS` says so (crates/core/src/faults.rs; release builds have no
such hook). Under them every request either succeeds or fails with an
error: a failed write leaves its key as it was, a read never returns other
bytes than were written (a GET whose read fails after its head is cut
short, which the client sees), and nothing panics."""

import os
import random
import re
import subprocess
import threading

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from conftest import ROOT, make_client, start_sluice, stop_sluice

MIB = 1024 * 1024


def attempt(call):
    """The call's result, or the exception it raised."""
    try:
        return call()
    except (ClientError, BotoCoreError) as e:
        return e


@pytest.mark.parametrize("seed", [11, 12])
def test_injected_io_errors_give_errors_never_wrong_data(tmp_path, monkeypatch, seed):
    root = tmp_path / "root"
    monkeypatch.setenv("SLUICE_FAULTS", f"read=0.15,write=0.05,fsync=0.1,rename=0.1,seed={seed}")
    info = start_sluice(root, "--cores", "0")
    rnd = random.Random(seed)
    expected = {}
    failed_writes = 0
    try:
        s3 = make_client(info)
        s3.create_bucket(Bucket="faults")
        for i in range(160):
            key = f"k{i % 16}"
            size = rnd.choice([0, 100, 70_000, MIB + 3, 3 * MIB])
            body = os.urandom(size)
            if i % 10 == 9:
                # A multipart upload: any step may fail; then it is aborted.
                body = os.urandom(5 * MIB + 17)

                def upload():
                    up = s3.create_multipart_upload(Bucket="faults", Key=key)["UploadId"]
                    try:
                        parts = [s3.upload_part(Bucket="faults", Key=key, UploadId=up, PartNumber=n + 1,
                                                Body=chunk)["ETag"]
                                 for n, chunk in enumerate((body[:5 * MIB], body[5 * MIB:]))]
                        return s3.complete_multipart_upload(Bucket="faults", Key=key, UploadId=up, MultipartUpload={
                            "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(parts)]})
                    except ClientError:
                        attempt(lambda: s3.abort_multipart_upload(Bucket="faults", Key=key, UploadId=up))
                        raise

                got = attempt(upload)
            else:
                got = attempt(lambda: s3.put_object(Bucket="faults", Key=key, Body=body))
            if isinstance(got, Exception):
                failed_writes += 1
                assert isinstance(got, ClientError), got
                assert got.response["Error"]["Code"] in ("InternalError", "ServiceUnavailable"), got
            else:
                expected[key] = body
        good_reads = bad_reads = 0
        for _ in range(4):
            for key in (f"k{i}" for i in range(16)):
                got = attempt(lambda: s3.get_object(Bucket="faults", Key=key)["Body"].read())
                if isinstance(got, Exception):
                    if isinstance(got, ClientError) and got.response["Error"]["Code"] == "NoSuchKey":
                        assert key not in expected, f"{key}: acknowledged, then NoSuchKey"
                        good_reads += 1
                    else:
                        bad_reads += 1
                    continue
                assert key in expected and got == expected[key], f"{key}: other bytes than were written"
                good_reads += 1
        assert failed_writes > 0 and bad_reads > 0, "no fault was injected (a release build?)"
        assert good_reads > 0 and len(expected) > 0
        assert info["proc"].poll() is None, "the server died"
    finally:
        stop_sluice(info)
    # Without faults, every key holds exactly its last acknowledged write.
    monkeypatch.delenv("SLUICE_FAULTS")
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
    proc = subprocess.Popen([binary, "serve", "--root", str(root), "--listen", "127.0.0.1:0", "--cores", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while m := proc.stdout.readline():
        if found := re.search(r"http://([0-9.]+:[0-9]+)", m):
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    # The same root, the same keys.
    info = dict(info, endpoint="http://" + found.group(1), proc=proc)
    try:
        s3 = make_client(info)
        for i in range(16):
            key = f"k{i}"
            got = attempt(lambda: s3.get_object(Bucket="faults", Key=key)["Body"].read())
            if key in expected:
                assert got == expected[key], f"{key}: not its last acknowledged write"
            else:
                assert isinstance(got, ClientError) and got.response["Error"]["Code"] == "NoSuchKey", key
        assert "Uploads" not in s3.list_multipart_uploads(Bucket="faults")
    finally:
        stop_sluice(info)
