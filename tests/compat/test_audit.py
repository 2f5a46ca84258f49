"""The audit webhook (issue 16). Before, sluice had no audit trail. Sources:
the issue (one event per S3 call in the schema MinIO-style consumers parse,
batches as a JSON array or ndjson with Bearer or Splunk authorization, a
spool that survives a webhook that is down, slow or failing, a restart and
a SIGKILL) and MinIO's audit event schema (`version`, `time`,
`deploymentid`, `api`{`name`, `bucket`, `object`, `status`, `statusCode`,
`rx`, `tx`, `timeToFirstByte`, `timeToResponse`}, `remotehost`,
`requestID`, `userAgent`, `accessKey`, `requestHeader`, `responseHeader`)."""

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)


class Receiver:
    """A webhook: collects the events POSTed to it; can fail or be slow."""

    def __init__(self, port=0):
        self.events, self.posts, self.auth = [], [], []
        self.fail = False
        self.delay = 0.0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                ctype = self.headers.get("Content-Type", "")
                if "ndjson" in ctype:
                    batch = [json.loads(line) for line in body.decode().splitlines() if line]
                else:
                    batch = json.loads(body)
                with outer.lock:
                    outer.events.extend(batch)
                    outer.posts.append(ctype)
                    outer.auth.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def ids(self):
        with self.lock:
            return [e["requestID"] for e in self.events]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def enable(c, url, *extra):
    c.run("audit-webhook", "enable", "--url", url, "--batch", "10", "--flush-interval", "50ms", *extra)


def test_one_event_per_call_with_its_fields_and_no_secret(cluster, receiver, tmp_path):
    c = cluster
    token = tmp_path / "token"
    token.write_text("hook-secret-token\n")
    enable(c, receiver.url, "--auth-token-file", str(token))
    assert "bearer token" in c.run("audit-webhook", "show").stdout
    assert "hook-secret-token" not in c.run("audit-webhook", "show").stdout
    endpoint = c.serve()
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="audited")
    s3.put_object(Bucket="audited", Key="a/k", Body=b"x" * 1000)
    s3.get_object(Bucket="audited", Key="a/k")["Body"].read()
    s3.head_object(Bucket="audited", Key="a/k")
    s3.list_objects_v2(Bucket="audited")
    assert code(lambda: s3.get_object(Bucket="audited", Key="missing")) == "NoSuchKey"
    bad = client(endpoint, c.admin[0], "wrong-secret-0123")
    assert code(lambda: bad.list_buckets()) == "SignatureDoesNotMatch"
    anon = client(endpoint, None, None)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "audited", "Key": "a/k"})
    import urllib.request
    assert urllib.request.urlopen(url).read() == b"x" * 1000
    s3.delete_object(Bucket="audited", Key="a/k")
    calls = ["CreateBucket", "PutObject", "GetObject", "HeadObject", "ListObjectsV2", "GetObject", "ListBuckets",
             "GetObject", "DeleteObject"]
    eventually(lambda: len(receiver.events) >= len(calls), within=10)
    time.sleep(0.5)
    events = receiver.events
    assert [e["api"]["name"] for e in events] == calls
    assert len(set(receiver.ids())) == len(calls), "exactly one event per call"
    assert all(a == "Bearer hook-secret-token" for a in receiver.auth)
    put = events[1]
    assert put["api"]["bucket"] == "audited" and put["api"]["object"] == "a/k"
    assert put["api"]["statusCode"] == 200 and put["api"]["rx"] >= 1000
    assert put["api"]["timeToResponse"].endswith("ns") and put["api"]["timeToFirstByte"].endswith("ns")
    assert put["accessKey"] == c.admin[0] and put["remotehost"] == "127.0.0.1"
    assert put["userAgent"].startswith("Boto3") or "botocore" in put["userAgent"]
    assert put["responseHeader"]["ETag"]
    assert put["version"] == "1" and put["deploymentid"] and put["node"]["name"] and put["tls"] is False
    assert events[4]["api"]["statusCode"] == 200
    assert events[5]["api"]["statusCode"] == 404
    assert events[6]["api"]["statusCode"] == 403 and events[6]["accessKey"] == c.admin[0]
    query = events[7]["requestQuery"]
    assert query and not {"Signature", "X-Amz-Signature"} & set(query), query
    assert events[7]["accessKey"] == c.admin[0]
    text = json.dumps(events)
    for secret in (c.admin[1], "Signature=", "wrong-secret-0123", "hook-secret-token"):
        assert secret not in text, secret
    for e in events:
        assert "Authorization" not in e["requestHeader"] and "authorization" not in e["requestHeader"]


def test_a_webhook_that_is_down_gets_every_event_once_it_is_back(cluster, receiver):
    c = cluster
    port = receiver.port
    enable(c, receiver.url, "--format", "ndjson", "--auth-scheme", "splunk", "--auth-token-file", __file__)
    endpoint = c.serve()
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="bk1")
    eventually(lambda: len(receiver.events) == 1, within=10)
    receiver.stop()
    for i in range(50):
        s3.put_object(Bucket="bk1", Key=f"k{i}", Body=b"v")
    time.sleep(1)
    back = Receiver(port)
    try:
        eventually(lambda: len(back.events) >= 50, within=40)
        time.sleep(1)
        keys = [e["api"]["object"] for e in back.events]
        assert keys == [f"k{i}" for i in range(50)], "every event, once, in order"
        assert all(ct == "application/x-ndjson" for ct in back.posts)
        assert all(a.startswith("Splunk ") for a in back.auth)
    finally:
        back.stop()


def test_errors_and_slowness_do_not_slow_requests(cluster, receiver):
    c = cluster
    enable(c, receiver.url)
    endpoint = c.serve()
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="bk2")

    def p99():
        times = []
        for i in range(200):
            t = time.perf_counter()
            s3.put_object(Bucket="bk2", Key=f"k{i}", Body=b"v" * 100)
            times.append(time.perf_counter() - t)
        times.sort()
        return times[int(len(times) * 0.99)]

    healthy = p99()
    receiver.fail = True
    receiver.delay = 0.5
    broken = p99()
    assert broken < max(3 * healthy, healthy + 0.02), (healthy, broken)
    receiver.fail, receiver.delay = False, 0.0
    eventually(lambda: len(set(receiver.ids())) >= 401, within=60)
    time.sleep(1)
    assert len(receiver.ids()) == len(set(receiver.ids())), "no event twice within a run"


def test_events_survive_a_restart_and_a_sigkill(cluster, receiver):
    c = cluster
    port = receiver.port
    enable(c, receiver.url)
    endpoint = c.serve("--node-name", "n1")
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="bk3")
    eventually(lambda: len(receiver.events) == 1, within=10)
    receiver.stop()
    for i in range(20):
        s3.put_object(Bucket="bk3", Key=f"before-restart-{i}", Body=b"v")
    c.stop()
    c.servers.clear()
    endpoint = c.serve("--node-name", "n1")
    s3 = client(endpoint, *c.admin)
    for i in range(20):
        s3.put_object(Bucket="bk3", Key=f"before-kill-{i}", Body=b"v")
    proc = c.servers[-1]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    c.servers.clear()
    back = Receiver(port)
    try:
        c.serve("--node-name", "n1")
        want = {f"before-restart-{i}" for i in range(20)} | {f"before-kill-{i}" for i in range(20)}
        eventually(lambda: want <= {e["api"].get("object") for e in back.events}, within=40)
        ids = [e["requestID"] for e in back.events]
        # Nothing was delivered while the webhook was down: nothing twice.
        assert len(ids) == len(set(ids))
    finally:
        back.stop()


def test_the_cli_refuses_bad_settings_and_disable_stops_events(cluster, receiver, tmp_path):
    c = cluster
    for bad in (["--url", "ftp://x"], ["--url", "https://h/"], ["--url", receiver.url, "--flush-interval", "5y"],
                ["--url", receiver.url, "--batch", "0"]):
        c.run("audit-webhook", "enable", *bad, ok=False)
    assert "disabled" in c.run("audit-webhook", "show").stdout
    enable(c, receiver.url)
    endpoint = c.serve()
    s3 = client(endpoint, *c.admin)
    s3.list_buckets()
    eventually(lambda: len(receiver.events) == 1, within=10)
    c.run("audit-webhook", "disable")
    time.sleep(1.5)
    s3.list_buckets()
    time.sleep(1.5)
    assert len(receiver.events) == 1
    assert (c.config / "audit.json").exists() is False


def test_an_https_webhook_with_its_ca(cluster, tmp_path):
    """The receiver serves the cluster's own certificate (made for
    127.0.0.1); the webhook trusts it through --ca-file, and refuses a
    receiver whose certificate it cannot verify."""
    import ssl
    c = cluster
    r = Receiver()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(c.config / "tls" / "cert.pem"), str(c.config / "tls" / "key.pem"))
    r.httpd.socket = ctx.wrap_socket(r.httpd.socket, server_side=True)
    try:
        url = f"https://127.0.0.1:{r.port}/hook"
        c.run("audit-webhook", "enable", "--url", url, ok=False)  # an https:// webhook needs its CA
        other_ca = tmp_path / "other.pem"
        other_ca.write_text((c.config / "tls" / "cert.pem").read_text().split("-----END CERTIFICATE-----")[0]
                            + "-----END CERTIFICATE-----\n")
        # Trusting the server certificate itself, not its CA: verification fails, nothing is lost.
        enable(c, url, "--ca-file", str(other_ca))
        endpoint = c.serve()
        s3 = client(endpoint, *c.admin)
        s3.list_buckets()
        time.sleep(1.5)
        assert r.events == []
        enable(c, url, "--ca-file", str(c.config / "tls" / "ca.pem"))
        eventually(lambda: len(r.events) == 1, within=40)
        assert r.events[0]["api"]["name"] == "ListBuckets"
    finally:
        r.stop()


def raw_request(endpoint, data):
    import socket
    import urllib.parse
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length: 0" in out:
                break
    return out


def test_review_findings_long_events_early_refusals_and_health_probes(cluster, receiver):
    """Regressions (hostile review): one anonymous request whose event was
    longer than the delivery read-ahead stopped delivery for good; requests
    refused before their head was parsed had no event; load balancers'
    health probes made events."""
    c = cluster
    enable(c, receiver.url)
    endpoint = c.serve()
    # A 15,500-byte User-Agent of bytes that are not UTF-8 (each becomes
    # U+FFFD, three bytes, in the event).
    raw_request(endpoint, b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"\xff" * 15500
                + b"\r\nConnection: close\r\n\r\n")
    raw_request(endpoint, b"GARBAGE\r\n\r\n")
    raw_request(endpoint, b"GET /minio/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s3 = client(endpoint, *c.admin)
    for _ in range(20):
        s3.list_buckets()
    eventually(lambda: len(receiver.events) >= 22, within=15)
    time.sleep(1)
    events = receiver.events
    assert len(events) == 22, [e["api"]["name"] for e in events]
    long_one = events[0]
    assert long_one["api"]["statusCode"] == 403 and len(long_one["userAgent"]) < 3000
    assert events[1]["api"]["statusCode"] == 400 and events[1]["api"]["name"] == ""
    assert all(e["api"]["name"] == "ListBuckets" for e in events[2:])


def test_a_small_spool_cap_still_takes_events_while_they_are_delivered(cluster, receiver):
    """Regression (hostile review): a cap of 16 MiB or less dropped every
    event once that many bytes had ever been spooled, the webhook healthy."""
    import socket as _socket
    from test_observability import scrape, value
    c = cluster
    enable(c, receiver.url)
    with _socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = c.serve("--audit-spool-cap", "300000", "--metrics-listen", f"127.0.0.1:{port}")
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="capped")
    for i in range(400):  # about 500 KB of events
        s3.put_object(Bucket="capped", Key=f"k{i}", Body=b"v")
    eventually(lambda: len(receiver.events) >= 401, within=30)
    m = scrape(port)
    assert value(m, "sluice_audit_dropped_total") == 0
    assert value(m, "sluice_audit_spool_bytes") < 300000


def test_a_webhook_answering_without_a_reason_phrase(cluster):
    """Regression (hostile review): `HTTP/1.1 204` (no reason phrase) was
    taken for no HTTP answer, and the batch sent again forever."""
    import socket as _socket
    got = []
    srv = _socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(65536)
                got.append(json.loads(body))
                conn.sendall(b"HTTP/1.1 204\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        c = cluster
        enable(c, f"http://127.0.0.1:{port}/hook")
        s3 = client(c.serve(), *c.admin)
        for _ in range(3):
            s3.list_buckets()
        eventually(lambda: sum(len(b) for b in got) >= 3, within=15)
        time.sleep(1.5)
        assert sum(len(b) for b in got) == 3, got
    finally:
        srv.close()


def test_a_spool_left_by_a_second_server_of_the_same_name_is_delivered(cluster, receiver):
    """Regression (hostile review): a second server under the same node
    name spooled to `n.1`; when only one came back, those events were
    never delivered."""
    c = cluster
    port = receiver.port
    enable(c, receiver.url)
    first = client(c.serve("--node-name", "n"), *c.admin)
    second = client(c.serve("--node-name", "n"), *c.admin)
    first.create_bucket(Bucket="twins")
    eventually(lambda: len(receiver.events) == 1, within=10)
    receiver.stop()
    for i in range(10):
        first.put_object(Bucket="twins", Key=f"first-{i}", Body=b"v")
        second.put_object(Bucket="twins", Key=f"second-{i}", Body=b"v")
    c.stop()
    c.servers.clear()
    assert (c.root / ".sluice" / "audit" / "n.1").is_dir()
    back = Receiver(port)
    try:
        c.serve("--node-name", "n")
        want = {f"first-{i}" for i in range(10)} | {f"second-{i}" for i in range(10)}
        eventually(lambda: want <= {e["api"].get("object") for e in back.events}, within=40)
        ids = [e["requestID"] for e in back.events]
        assert len(ids) == len(set(ids))
    finally:
        back.stop()


def test_no_answered_write_is_missing_after_a_sigkill_under_load(cluster, receiver):
    """The hostile review lost events of answered requests in SIGKILLs under
    load (16 connections, 3 kills, 11 events): they were spooled just after
    their answers. An answer that leaves in one write now has its event
    spooled first. This test guards that order; it does not reproduce the
    loss on the old order reliably (there the answer's write usually reached
    the kernel after the flush anyway: io_uring submits at the end of the
    runtime's turn), so it passes on both."""
    c = cluster
    port = receiver.port
    enable(c, receiver.url)
    endpoint = c.serve("--node-name", "k")
    s3 = client(endpoint, *c.admin)
    s3.create_bucket(Bucket="killed")
    eventually(lambda: len(receiver.events) == 1, within=10)
    receiver.stop()
    answered = []
    stop = threading.Event()

    def load(n):
        s = client(endpoint, *c.admin)
        i = 0
        while not stop.is_set():
            try:
                r = s.put_object(Bucket="killed", Key=f"t{n}-{i}", Body=b"v")
                answered.append(r["ResponseMetadata"]["RequestId"])
            except Exception:
                return
            i += 1

    threads = [threading.Thread(target=load, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc = c.servers[-1]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join(10)
    c.servers.clear()
    assert len(answered) > 50
    back = Receiver(port)
    try:
        c.serve("--node-name", "k")
        eventually(lambda: set(answered) <= {e["requestID"] for e in back.events}, within=40)
    finally:
        back.stop()
