"""An idle thread gives back what it keeps for the next requests (issue 18's
soak): the buffers its pools cache and its allocator's free pages. Before,
a thread that went quiet after a burst kept them resident (mimalloc purges
a thread's freed pages only when that thread allocates again), so RSS at
rest depended on what the last burst happened to leave."""

import time
from concurrent.futures import ThreadPoolExecutor

from conftest import make_client, start_sluice, stop_sluice

MIB = 1024 * 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_an_idle_thread_gives_its_cached_memory_back(tmp_path):
    info = start_sluice(tmp_path / "root", "--cores", "0")
    pid = info["proc"].pid
    try:
        s3 = make_client(info)
        s3.create_bucket(Bucket="idle")
        body = b"m" * (24 * MIB)
        # 16 large bodies at once: each holds 1 MiB buffers; the thread's
        # pool keeps up to 16 of them when they are done.
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket="idle", Key=f"k{i}", Body=body), range(16)))
        busy = rss_kib(pid)
        # The thread trims after a second or two without a request.
        deadline = time.monotonic() + 10
        rested = busy
        while time.monotonic() < deadline:
            time.sleep(0.5)
            rested = rss_kib(pid)
            if busy - rested >= 8 * 1024:
                break
        assert busy - rested >= 8 * 1024, f"RSS {busy} KiB after the burst, {rested} KiB at rest"
        # And it still serves.
        assert s3.get_object(Bucket="idle", Key="k3")["Body"].read() == body
    finally:
        stop_sluice(info)
