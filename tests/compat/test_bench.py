"""sluice-bench, the load generator of the benchmarks, against sluice serve:
every workload runs and reports, and the objects it wrote are whole."""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sluice_bench_all_workloads(server, s3):
    binary = os.environ.get("SLUICE_BENCH_BIN", os.path.join(ROOT, "target", "debug", "sluice-bench"))
    assert os.path.exists(binary), "built by tools/test.sh"
    base = [binary, "put", "--endpoint", server["endpoint"], "--access-key", server["access"], "--secret-key", server["secret"],
            "--bucket", "bench-test", "--size", "100KiB", "--count", "40", "--concurrency", "4", "--sign-payload"]
    out = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^PUT\s+40 ops", out.stdout, re.M)
    body = s3.get_object(Bucket="bench-test", Key="obj/00000007")["Body"].read()
    assert body == bytes(i * 131 % 251 for i in range(100 * 1024))
    for workload, pattern in [("get", r"^GET\s+40 ops"), ("list", r"40 keys listed"), ("delete", r"^DELETE\s+40 ops")]:
        out = subprocess.run([binary, workload, *base[2:]], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert re.search(pattern, out.stdout, re.M), out.stdout
    assert "Contents" not in s3.list_objects_v2(Bucket="bench-test")
    bad = subprocess.run([binary, "get", *base[2:4], "--access-key", server["access"], "--secret-key", "wrong"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "403" in bad.stderr
