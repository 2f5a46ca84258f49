"""Large server-side copies, and freeing a large object, do not stall the
runtime thread (issue 12).

A server with one runtime thread (`--cores 0`) copies a 1 GiB object
(CopyObject, UploadPartCopy of two 512 MiB ranges, and a Complete that must
join the parts by copying them) while a second connection HEADs and GETs a
tiny object in a loop. Every small request that overlapped a copy must have
been answered within LATENCY_BOUND, and the copy must be the source's
bytes.

copy_file_range of 1 GiB in one call on the runtime thread held it for the
whole copy: 0.26-0.55 s for CopyObject from the page cache, 1.5-4.4 s for
the join, which reads parts written with O_DIRECT from the disk, on the
2-core test VM. Large copies now run on a thread of their own. (Part copies
never stalled: UploadPartCopy reads and writes through io_uring.)

Deleting a 1 GiB object, replacing it or aborting an upload of 1 GiB of
parts freed the blocks in the unlink, the rename or the staging folder's
removal, on the runtime thread: 0.2 s on ext4 here, and more where each
freed range waits for a discard. Large files are now held open through
their unlink and freed by a thread of their own; the answer still waits
for the space to be back.
"""

import contextlib
import os
import shutil
import tempfile
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT, make_client, start_sluice, stop_sluice

MIB = 1 << 20
SIZE = 1 << 30
HALF = SIZE // 2

# Idle, a small request takes 1-2 ms here and at worst about 15 ms over
# thousands; during the copies the worst is 5-30 ms. 100 ms leaves room
# for the scheduler of a 2-core VM shared with compilers and is well under
# the old stall (a 1 GiB copy from the page cache held the thread 0.26 s
# and more here).
LATENCY_BOUND = 0.100
# A copy that is answered before enough small requests overlapped it
# proves nothing either way.
MIN_PROBES = 5


@pytest.fixture(scope="module")
def one_thread():
    """A server with one runtime thread, a bucket holding `big` (1 GiB
    written over POSIX, each MiB stamped with its index so that a block
    copied to the wrong place is caught) and `tiny`."""
    root = tempfile.mkdtemp(prefix="sluice-copy-stall-", dir=os.path.join(ROOT, "target"))
    info = start_sluice(root, "--cores", "0")
    try:
        s3 = make_client(info, read_timeout=300)
        s3.create_bucket(Bucket="stall")
        noise = os.urandom(MIB)
        path = os.path.join(root, "stall", "big")
        with open(path, "wb") as f:
            for i in range(SIZE // MIB):
                f.write(i.to_bytes(8, "little") + noise[8:])
            # Written back now, so that no writeback of the source competes
            # with the copies; its pages stay cached (the copy is CPU-bound:
            # the steadiest case to time).
            os.fsync(f.fileno())
        s3.put_object(Bucket="stall", Key="tiny", Body=b"tiny object")
        yield info, s3, path
    finally:
        # The copies stay until here: the discards after freeing 1 GiB slow
        # the filesystem for a while.
        stop_sluice(info)
        shutil.rmtree(root, ignore_errors=True)


class Probe:
    """Small requests on a connection of their own, timed, until stopped."""

    def __init__(self, info):
        self.client = make_client(info, read_timeout=300)
        self.samples = []  # (started, took), appended under `changed`
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            n = 0
            while not self.stop.is_set():
                started = time.monotonic()
                if n % 2:
                    self.client.head_object(Bucket="stall", Key="tiny")
                else:
                    assert self.client.get_object(Bucket="stall", Key="tiny")["Body"].read() == b"tiny object"
                with self.changed:
                    self.samples.append((started, time.monotonic() - started))
                    self.changed.notify_all()
                n += 1
        finally:
            self.stop.set()
            with self.changed:
                self.changed.notify_all()

    def wait_until(self, done):
        """Waits until `done(samples)` holds; fails if the probe stopped."""
        with self.changed:
            self.changed.wait_for(lambda: done(self.samples) or self.stop.is_set(), timeout=300)
            assert done(self.samples), "the small requests stopped"

    def __enter__(self):
        self.thread.start()
        # The connection is open and warm before the copy starts.
        self.wait_until(lambda samples: len(samples) >= 20)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=300)


def while_probed(info, what, attempts):
    """Makes a copy while another connection makes small requests, and
    asserts that none of those that overlapped it took LATENCY_BOUND or
    more. Each of `attempts` returns (untimed) what to call for the copy and
    the key it writes. The first may miss the bound: then the second is
    made, and it must not. The old stall came with every copy; what does
    not repeat is the filesystem (a journal commit during writeback holds
    any metadata call, on any thread, up to 0.2 s here). A second copy
    writes a key of its own: replacing a 1 GiB object frees the old one on
    the runtime thread, a stall of its own. Returns what the copy returned
    and its key."""
    for prepare in attempts:
        copy, key = prepare()
        # What an earlier copy left dirty is written back first.
        os.sync()
        with Probe(info) as probe:
            idle = max(took for _, took in probe.samples[5:20])
            begun = time.monotonic()
            out = copy()
            ended = time.monotonic()
            # The request in flight when the copy ended overlapped it too.
            probe.wait_until(lambda samples: samples[-1][0] >= ended)
        during = [(started - begun, took) for started, took in probe.samples
                  if started + took > begun and started < ended]
        worst = max((took for _, took in during), default=float("inf"))
        slow = [(round(at, 2), round(took * 1000)) for at, took in during if took > 0.03]
        print(f"{what}: {ended - begun:.2f} s, {len(during)} small requests during it, "
              f"worst {worst * 1000:.1f} ms (before it {idle * 1000:.1f} ms); over 30 ms (s, ms): {slow}")
        assert len(during) >= MIN_PROBES, (what, ended - begun, during)
        if worst < LATENCY_BOUND:
            return out, key
    raise AssertionError(f"{what}: a small request waited {worst * 1000:.0f} ms during the copy, each time")


def same_bytes(path_a, offset_a, path_b, offset_b, length):
    with open(path_a, "rb") as a, open(path_b, "rb") as b:
        a.seek(offset_a)
        b.seek(offset_b)
        left = length
        while left:
            want = min(left, 16 * MIB)
            if a.read(want) != b.read(want):
                return False
            left -= want
    return True


def test_copy_object_of_1_gib_leaves_the_thread_responsive(one_thread):
    info, s3, big = one_thread
    source = s3.head_object(Bucket="stall", Key="big")

    def copy_to(key):
        return lambda: (lambda: s3.copy_object(
            Bucket="stall", Key=key, CopySource={"Bucket": "stall", "Key": "big"}), key)

    out, key = while_probed(info, "CopyObject 1 GiB", [copy_to("copy"), copy_to("copy-again")])
    assert out["CopyObjectResult"]["ETag"] == source["ETag"]
    head = s3.head_object(Bucket="stall", Key=key)
    assert head["ContentLength"] == SIZE and head["ETag"] == source["ETag"]
    copy = os.path.join(info["root"], "stall", key)
    assert os.path.getsize(copy) == SIZE and same_bytes(big, 0, copy, 0, SIZE)


def halves(s3, key, upload, timed=None):
    """Parts 1 and 3 of `upload` of `key`: the halves of `big`, by
    UploadPartCopy (each through `timed(what, copy)` when given)."""
    parts = []
    for number, first in ((1, 0), (3, HALF)):
        def copy(number=number, first=first):
            return s3.upload_part_copy(
                Bucket="stall", Key=key, UploadId=upload, PartNumber=number,
                CopySource={"Bucket": "stall", "Key": "big"},
                CopySourceRange=f"bytes={first}-{first + HALF - 1}")
        out = timed(f"UploadPartCopy 512 MiB (part {number})", copy) if timed else copy()
        parts.append({"PartNumber": number, "ETag": out["CopyPartResult"]["ETag"]})
    return parts


def test_upload_part_copy_and_a_complete_that_joins_leave_the_thread_responsive(one_thread):
    info, s3, big = one_thread
    uploads = []

    def new_upload(key):
        uploads.append((key, s3.create_multipart_upload(Bucket="stall", Key=key)["UploadId"]))
        return uploads[-1][1]

    def complete(key, upload, parts):
        return lambda: s3.complete_multipart_upload(
            Bucket="stall", Key=key, UploadId=upload, MultipartUpload={"Parts": parts})

    def again():
        # A second Complete needs an upload of its own.
        upload = new_upload("joined-again")
        return complete("joined-again", upload, halves(s3, "joined-again", upload)), "joined-again"

    try:
        # Parts 1 and 3: numbers that are not 1..K, so Complete cannot make
        # the staging file the object in place and joins the parts by
        # copying all 1 GiB of them. A part copied again is an upload of
        # the same part again.
        upload = new_upload("joined")
        parts = halves(s3, "joined", upload,
                       lambda what, copy: while_probed(info, what, [lambda: (copy, None)] * 2)[0])

        def first():
            return complete("joined", upload, parts), "joined"

        done, key = while_probed(info, "CompleteMultipartUpload joining 1 GiB", [first, again])
        assert done["ETag"].endswith('-2"')
        joined = os.path.join(info["root"], "stall", key)
        assert os.path.getsize(joined) == SIZE and same_bytes(big, 0, joined, 0, SIZE)
    finally:
        for key, upload in uploads:
            # Gone already when its Complete went through.
            with contextlib.suppress(ClientError):
                s3.abort_multipart_upload(Bucket="stall", Key=key, UploadId=upload)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def freed_while_probed(info, what, keys, make, act):
    """`while_probed` for an operation that frees 1 GiB: each attempt first
    makes what it frees (`make(key)`), written back, then `act(key)` is
    timed. Asserts the space was back when the answer came, as when the
    close freed it in place; returns the key of the attempt kept."""
    before = {}

    def attempt(key):
        def prepare():
            make(key)
            os.sync()
            before[key] = free_bytes(info["root"])
            return (lambda: act(key)), key
        return prepare

    _, key = while_probed(info, what, [attempt(k) for k in keys])
    assert free_bytes(info["root"]) - before[key] >= SIZE * 9 // 10
    return key


def written_copy(info, big, key):
    """`key` in the bucket: a copy of `big` written over POSIX, on disk."""
    path = os.path.join(info["root"], "stall", key)
    shutil.copyfile(big, path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())
    return path


def test_deleting_a_1_gib_object_leaves_the_thread_responsive_and_answers_once_freed(one_thread):
    info, s3, big = one_thread
    key = freed_while_probed(info, "DeleteObject 1 GiB", ["doomed", "doomed-again"],
                             lambda k: written_copy(info, big, k),
                             lambda k: s3.delete_object(Bucket="stall", Key=k))
    with pytest.raises(ClientError):
        s3.head_object(Bucket="stall", Key=key)
    assert not os.path.exists(os.path.join(info["root"], "stall", key))


def test_replacing_a_1_gib_object_leaves_the_thread_responsive_and_answers_once_freed(one_thread):
    info, s3, big = one_thread
    key = freed_while_probed(info, "PUT over a 1 GiB object", ["replaced", "replaced-again"],
                             lambda k: written_copy(info, big, k),
                             lambda k: s3.put_object(Bucket="stall", Key=k, Body=b"the small one"))
    assert s3.get_object(Bucket="stall", Key=key)["Body"].read() == b"the small one"


def test_aborting_an_upload_of_1_gib_of_parts_leaves_the_thread_responsive_and_answers_once_freed(one_thread):
    info, s3, big = one_thread
    uploads = {}

    def make(key):
        uploads[key] = s3.create_multipart_upload(Bucket="stall", Key=key)["UploadId"]
        halves(s3, key, uploads[key])

    key = freed_while_probed(info, "AbortMultipartUpload of 1 GiB of parts", ["abandoned", "abandoned-again"], make,
                             lambda k: s3.abort_multipart_upload(Bucket="stall", Key=k, UploadId=uploads[k]))
    assert not [u for u in s3.list_multipart_uploads(Bucket="stall").get("Uploads", []) if u["Key"] == key]
