"""Metrics, health and the access log (issue 16). Before, sluice exported
no metrics and had no health endpoint. Sources: the issue (Prometheus text
on an admin listener off the S3 port, optionally behind a bearer token;
/health/live and /health/ready there, and MinIO's /minio/health/live and
/minio/health/ready on the S3 port without authentication; an access log
at info level), the Prometheus exposition format (parsed here with the
prometheus-client package's own parser) and MinIO's health API."""

import os
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import start_sluice, stop_sluice, make_client
from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(port, token=None):
    status, text = get(f"http://127.0.0.1:{port}/metrics", token)
    assert status == 200, text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_scrape_parses_and_moves_with_traffic(cluster, tmp_path):
    c = cluster
    port = free_port()
    token = tmp_path / "metrics-token"
    token.write_text("scrape-me\n")
    endpoint = c.serve("--metrics-listen", f"127.0.0.1:{port}", "--metrics-token-file", str(token))
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 401
    assert get(f"http://127.0.0.1:{port}/metrics", "wrong")[0] == 401
    before = scrape(port, "scrape-me")
    assert any(k[0] == "sluice_build_info" and v == 1 for k, v in before.items())
    assert any(k[0] == "sluice_io_driver" and v == 1 for k, v in before.items())
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="metered")
    for i in range(10):
        s3.put_object(Bucket="metered", Key=f"k{i}", Body=b"x" * 1000)
    for i in range(5):
        s3.get_object(Bucket="metered", Key=f"k{i}")["Body"].read()
    assert code(lambda: s3.get_object(Bucket="metered", Key="missing")) == "NoSuchKey"
    bad = client(endpoint, c.admin[0], "not-the-secret-1")
    assert code(lambda: bad.list_buckets()) == "SignatureDoesNotMatch"
    after = scrape(port, "scrape-me")
    assert value(after, "sluice_requests_total", api="PutObject", status="2xx") == 10
    assert value(after, "sluice_requests_total", api="GetObject", status="2xx") == 5
    assert value(after, "sluice_requests_total", api="GetObject", status="4xx") == 1
    assert value(after, "sluice_auth_failures_total") - value(before, "sluice_auth_failures_total") == 1
    assert value(after, "sluice_received_bytes_total") - value(before, "sluice_received_bytes_total") >= 10_000
    assert value(after, "sluice_sent_bytes_total") - value(before, "sluice_sent_bytes_total") >= 5_000
    writes = value(after, "sluice_request_duration_seconds_count", family="object_write")
    assert writes == 10
    assert value(after, "sluice_request_duration_seconds_bucket", family="object_write", le="+Inf") == 10
    assert value(after, "sluice_request_duration_seconds_sum", family="object_write") > 0
    assert sum(v for k, v in after.items() if k[0] == "sluice_open_connections") >= 1
    assert ("sluice_audit_spool_bytes", ()) in after


def test_health_on_the_admin_listener_and_minios_paths(tmp_path):
    port = free_port()
    root = tmp_path / "root"
    server = start_sluice(root, "--metrics-listen", f"127.0.0.1:{port}")
    try:
        assert get(f"http://127.0.0.1:{port}/health/live") == (200, "live\n")
        assert get(f"http://127.0.0.1:{port}/health/ready") == (200, "ready\n")
        # On the S3 port, unauthenticated, as MinIO's load balancers expect.
        assert get(f"{server['endpoint']}/minio/health/live")[0] == 200
        assert get(f"{server['endpoint']}/minio/health/ready")[0] == 200
        # Not ready while the root cannot be written.
        if os.geteuid() == 0:
            print("skipped the not-ready half: root writes through file modes")
        else:
            tmp = root / ".sluice" / "tmp"
            tmp.chmod(0o500)
            try:
                assert get(f"http://127.0.0.1:{port}/health/ready")[0] == 503
                assert get(f"{server['endpoint']}/minio/health/ready")[0] == 503
            finally:
                tmp.chmod(0o700)
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
        # Other requests still need a signature.
        status, _ = get(f"{server['endpoint']}/minio/other")
        assert status == 403
    finally:
        stop_sluice(server)


def test_the_access_log(tmp_path):
    import re
    import subprocess
    from conftest import ROOT
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([binary, "serve", "--root", str(tmp_path / "root"), "--listen", "127.0.0.1:0",
                                 "--access-log"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and "secret key:" not in log.read_text():
            time.sleep(0.05)
        text = log.read_text()
        info = {"endpoint": "http://" + re.search(r"http://([0-9.]+:[0-9]+)", text).group(1),
                "access": re.search(r"access key: (\S+)", text).group(1),
                "secret": re.search(r"secret key: (\S+)", text).group(1)}
        s3 = make_client(info)
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="k", Body=b"abc")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "logged", "Key": "k"})
        assert urllib.request.urlopen(url).read() == b"abc"
        eventually(lambda: log.read_text().count('"GET /logged/k?') == 1, within=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lines = [line for line in log.read_text().splitlines() if " INFO " in line and '" 20' in line]
    put = next(line for line in lines if '"PUT /logged/k"' in line)
    assert f" {info['access']} " in put and " PutObject " in put and " 200 " in put
    get_line = next(line for line in lines if '"GET /logged/k?' in line)
    assert "Signature=" not in get_line and " GetObject " in get_line
    assert all(info["secret"] not in line for line in lines)


def test_review_findings_admin_listener_and_readiness(cluster, tmp_path):
    """Regressions (hostile review): one slow client blocked the admin
    listener for everyone; readiness probes raced on one probe file and
    answered 503 on a healthy server; an empty token file left /metrics
    open."""
    import threading
    c = cluster
    empty = tmp_path / "empty-token"
    empty.write_text("\nthe-token-on-line-2\n")
    port = free_port()
    try:
        c.serve("--metrics-listen", f"127.0.0.1:{port}", "--metrics-token-file", str(empty))
        raise AssertionError("a server started with an empty first line as its metrics token")
    except RuntimeError as e:
        assert "first line must hold the token" in str(e)
    endpoint = c.serve("--metrics-listen", f"127.0.0.1:{port}")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /metr")
    try:
        start = time.monotonic()
        assert get(f"http://127.0.0.1:{port}/health/live")[0] == 200
        assert time.monotonic() - start < 2
        answers = []

        def probe(url):
            for _ in range(50):
                answers.append(get(url)[0])

        threads = [threading.Thread(target=probe, args=(u,)) for u in
                   (f"http://127.0.0.1:{port}/health/ready", f"{endpoint}/minio/health/ready") * 2]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert answers.count(200) == 200, answers
    finally:
        for s in idle + [slow]:
            s.close()


def test_a_stderr_nobody_reads_holds_no_request(tmp_path):
    """A server whose stderr pipe nobody reads goes on answering: its log
    lines wait for a thread of their own and, once its queue (8,192 lines)
    is full, are dropped and counted. Before, each runtime thread wrote its
    lines itself: with the access log on, the pipe filled after about 400
    requests and every request of that thread hung in the write."""
    import http.client
    import re
    import subprocess
    import threading
    from conftest import ROOT
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
    port = free_port()
    out = tmp_path / "out.log"
    with open(out, "w") as stdout:
        proc = subprocess.Popen([binary, "serve", "--root", str(tmp_path / "root"), "--listen", "127.0.0.1:0",
                                 "--metrics-listen", f"127.0.0.1:{port}", "--access-log"],
                                stdout=stdout, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and "secret key:" not in out.read_text():
            time.sleep(0.05)
        host = re.search(r"http://([0-9.]+:[0-9]+)", out.read_text()).group(1)
        conn = http.client.HTTPConnection(host, timeout=5)
        started = time.time()
        for i in range(10_000):
            # Anonymous: refused, and logged like any request.
            conn.request("GET", f"/unread-{i % 7}/k")
            r = conn.getresponse()
            r.read()
            assert r.status in (403, 404), r.status
        print(f"10,000 requests answered in {time.time() - started:.1f} s with stderr unread")
        dropped = value(scrape(port), "sluice_log_lines_dropped_total")
        assert dropped > 0
        # Read again: the queued lines come out, then the count of those
        # dropped, and the lines of new requests.
        drained = []
        threading.Thread(target=lambda: [drained.append(line) for line in proc.stderr], daemon=True).start()
        conn.request("GET", "/read-again/k")
        conn.getresponse().read()
        assert eventually(lambda: any(b'"GET /read-again/k"' in line for line in drained), within=10)
        notices = [line for line in drained if b"log line(s) dropped" in line]
        assert notices and int(notices[0].split()[1]) > 0, notices
    finally:
        # A server blocked in a write to its stderr (the old code) cannot
        # stop on its own: stop_sluice kills it after 10 s.
        stop_sluice({"proc": proc})
