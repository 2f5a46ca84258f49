"""Deletes where the unlink waits for the device (issue 19's peer rows):
ext4 without a journal, mounted with `discard`, discards each freed range
before the unlink returns (about 100 µs here), and that wait held the
runtime thread, so deletes ran one at a time. sluice times its direct
unlinks and sends those of a filesystem where they wait through io_uring,
whose kernel workers wait instead, several at once (crate::free::unlink).

A fresh journal-less ext4 mounted with `discard` on a loop device (whose
discards punch holes in its backing file, and wait for it): small objects
PUT, then deleted by DeleteObject from several connections at once and by
DeleteObjects; every key must be gone, the listing empty, and
`sluice_unlinks_on_ring_total` must show the unlinks went through the ring.
"""

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import make_client, start_sluice, stop_sluice
from test_observability import free_port, scrape, value


def can_mount():
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") and os.path.exists("/dev/loop-control")


pytestmark = pytest.mark.skipif(not can_mount(), reason="mounting a loop filesystem needs root, e2fsprogs and loop "
                                                        "devices")


@pytest.fixture
def discarding_fs():
    d = tempfile.mkdtemp(prefix="sluice-discard-")
    img = d + ".img"
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", img], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop,discard", img, d], check=True, capture_output=True)
        yield d
    finally:
        subprocess.run(["umount", d], capture_output=True)
        os.rmdir(d)
        os.remove(img)


def test_deletes_that_wait_for_discards_go_through_the_ring_and_delete_everything(discarding_fs):
    port = free_port()
    info = start_sluice(discarding_fs, "--cores", "0", "--metrics-listen", f"127.0.0.1:{port}")
    try:
        s3 = make_client(info)
        s3.create_bucket(Bucket="trim")
        keys = [f"d/{i:04}" for i in range(400)]
        body = os.urandom(4096)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket="trim", Key=k, Body=body), keys))
        before = value(scrape(port), "sluice_unlinks_on_ring_total")
        with ThreadPoolExecutor(16) as pool:
            done = list(pool.map(lambda k: s3.delete_object(Bucket="trim", Key=k), keys[:300]))
        assert all(r["ResponseMetadata"]["HTTPStatusCode"] == 204 for r in done)
        out = s3.delete_objects(Bucket="trim", Delete={"Objects": [{"Key": k} for k in keys[300:]]})
        assert len(out["Deleted"]) == 100 and not out.get("Errors")
        on_ring = value(scrape(port), "sluice_unlinks_on_ring_total") - before
        assert on_ring > 0, "no unlink went through the ring though each waited for a discard"
        assert s3.list_objects_v2(Bucket="trim").get("KeyCount") == 0
        assert not os.path.exists(os.path.join(discarding_fs, "trim", "d"))
        # Deleting again: 204, as for any missing key.
        assert s3.delete_object(Bucket="trim", Key=keys[0])["ResponseMetadata"]["HTTPStatusCode"] == 204
        print(f"{on_ring} of 400 unlinks went through the ring")
    finally:
        stop_sluice(info)
