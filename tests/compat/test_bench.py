"""sluice-bench, the load generator of the benchmarks, against a real
`sluice serve`: every benchmark runs, reports JSON with the server's cost
from /proc, verifies what it reads (a corrupted object is caught), and
cleans up; and `sluice serve --null` verifies and discards bodies while
keeping the namespace."""

import json
import os
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, make_client, start_sluice, stop_sluice

BENCH = os.environ.get("SLUICE_BENCH_BIN", os.path.join(ROOT, "target", "debug", "sluice-bench"))


def bench(server, kind, *extra, timeout=120):
    assert os.path.exists(BENCH), "built by tools/test.sh"
    host = server["endpoint"].removeprefix("http://")
    cmd = [BENCH, kind, "--host", host, "--access-key", server["access"], "--secret-key", server["secret"],
           "--server-pid", str(server["proc"].pid), "--json", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def report(out):
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def op(rep, name):
    return next(o for o in rep["operations"] if o["op"] == name)


@pytest.mark.parametrize("kind,ops", [
    ("put", ["PUT"]), ("get", ["GET"]), ("stat", ["STAT"]), ("list", ["LIST"]),
    ("delete", ["DELETE"]), ("multipart", ["MULTIPART"]), ("mixed", ["DELETE", "GET", "PUT", "STAT"]),
])
def test_every_benchmark_runs_verifies_and_cleans_up(server, s3, kind, ops):
    bucket = f"bench-{kind}"
    size = "6MiB" if kind == "multipart" else "20KiB"
    rep = report(bench(server, kind, "--bucket", bucket, "--obj.size", size, "--part.size", "5MiB",
                       "--objects", "60", "--concurrent", "4", "--duration", "1500ms", "--checksum", "CRC32C"))
    assert rep["benchmark"] == kind
    assert sorted(o["op"] for o in rep["operations"]) == ops
    for o in rep["operations"]:
        assert o["ops"] > 0 and o["errors"] == {}, o
        assert o["latency"]["p50_us"] > 0 and o["latency"]["max_us"] >= o["latency"]["p99_us"]
    if kind == "get":
        assert op(rep, "GET")["bytes"] == op(rep, "GET")["ops"] * 20 * 1024
        assert op(rep, "GET")["ttfb"]["avg_us"] <= op(rep, "GET")["latency"]["avg_us"]
    if kind == "list":
        # Every page lists the 60 prepared keys.
        assert op(rep, "LIST")["objects"] == 60 * op(rep, "LIST")["ops"]
    if kind == "delete":
        assert op(rep, "DELETE")["ops"] == 60
    assert rep["server_peak_rss_kib"] > 1000 and rep["other_cpu_s"] >= 0
    if kind != "delete":
        # 1.5 s of load: both sides used at least a clock tick (delete of
        # 60 objects may finish within one).
        assert rep["server_cpu_s"] > 0 and rep["client_cpu_s"] > 0
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket), "cleaned up"


def test_autoterm_stops_when_throughput_is_stable(server):
    start = time.time()
    out = bench(server, "stat", "--bucket", "bench-autoterm", "--obj.size", "1KiB", "--objects", "20",
                "--concurrent", "4", "--duration", "60s", "--autoterm", "--autoterm.dur", "2s", "--autoterm.pct", "60")
    rep = report(out)
    assert "stable" in out.stderr
    assert rep["seconds"] < 30 and time.time() - start < 45
    assert op(rep, "STAT")["ops"] > 0


def test_random_sizes_hosts_round_robin_and_no_prefix(server, s3):
    host = server["endpoint"].removeprefix("http://")
    # Two entries for the same server: connections alternate between them.
    rep = report(bench(server, "get", "--host", f"{host},{host}", "--bucket", "bench-rand", "--noprefix",
                       "--obj.size", "64KiB", "--obj.randsize", "--objects", "30", "--concurrent", "4",
                       "--count", "200", "--noclear"))
    get = op(rep, "GET")
    assert get["ops"] == 200 and get["errors"] == {}
    sizes = {o["Size"] for o in s3.list_objects_v2(Bucket="bench-rand")["Contents"]}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bench-rand")["Contents"]]
    assert len(keys) == 30 and all("/" not in k for k in keys), "--noprefix puts objects at the top"
    assert len(sizes) > 5 and max(sizes) <= 64 * 1024, sizes


def test_count_csv_and_text_report(server, tmp_path):
    csv = tmp_path / "ops.csv"
    host = server["endpoint"].removeprefix("http://")
    out = subprocess.run([BENCH, "put", "--host", host, "--access-key", server["access"], "--secret-key", server["secret"],
                          "--bucket", "bench-count", "--obj.size", "1KiB", "--count", "25", "--concurrent", "3",
                          "--disable-sha256-payload", "--csv", str(csv)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Operation: PUT. Concurrency: 3." in out.stdout
    assert "(25 ops, 25 objects)" in out.stdout
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("op,thread,start_ns,end_ns") and len(lines) == 26
    assert all(line.startswith("PUT,") and line.endswith(",1024,1,") for line in lines[1:])


def test_a_corrupted_object_is_caught(server, s3):
    """Objects are overwritten over POSIX while GETs run: the bench reports
    VerifyFailed and exits 1 rather than counting them as reads."""
    host = server["endpoint"].removeprefix("http://")
    proc = subprocess.Popen([BENCH, "get", "--host", host, "--access-key", server["access"], "--secret-key", server["secret"],
                             "--bucket", "bench-verify", "--prefix", "vf", "--obj.size", "64KiB", "--objects", "4",
                             "--concurrent", "2", "--duration", "4s", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = os.path.join(server["root"], "bench-verify", "vf")
    deadline = time.time() + 30
    while time.time() < deadline and not (os.path.isdir(folder) and len(os.listdir(folder)) == 4):
        time.sleep(0.05)
    time.sleep(0.5)
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "r+b") as f:
            f.seek(1000)
            f.write(b"\xff" * 16)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    rep = json.loads(out)
    errors = op(rep, "GET")["errors"]
    assert any(k.startswith("VerifyFailed") for k in errors), errors
    assert "differed" in err


def test_bad_flags_and_keys(server):
    host = server["endpoint"].removeprefix("http://")
    base = [BENCH, "get", "--host", host, "--access-key", server["access"]]
    out = subprocess.run([*base, "--secret-key", "wrong"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "SignatureDoesNotMatch" in out.stderr
    out = subprocess.run([*base, "--secret-key", "x", "--obj.size", "lots"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--obj.size" in out.stderr
    out = subprocess.run([BENCH, "warp"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "possible values: get, put" in out.stderr


def test_null_server_verifies_discards_and_generates():
    root = tempfile.mkdtemp(prefix="sluice-null-", dir=os.path.join(ROOT, "target"))
    info = start_sluice(root, "--null")
    try:
        s3 = make_client(info)
        # PUT bodies are verified: a wrong Content-MD5 is still refused.
        s3.create_bucket(Bucket="nul")
        with pytest.raises(Exception) as e:
            s3.put_object(Bucket="nul", Key="bad", Body=b"x" * 10, ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
        assert "BadDigest" in str(e.value)
        body = os.urandom(1 << 20)
        put = s3.put_object(Bucket="nul", Key="k", Body=body)
        import hashlib
        assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
        # The object is a sparse file of its size: no data was written (at
        # most a block for the metadata xattr is allocated, not 2048).
        st = os.stat(os.path.join(root, "nul", "k"))
        assert st.st_size == 1 << 20 and st.st_blocks <= 8
        got = s3.get_object(Bucket="nul", Key="k")
        assert got["ResponseMetadata"]["HTTPHeaders"]["x-sluice-generated"] == "true"
        data = got["Body"].read()
        assert data == bytes(i % 251 for i in range(1 << 20))
        part = s3.get_object(Bucket="nul", Key="k", Range="bytes=1000-1009")["Body"].read()
        assert part == bytes(i % 251 for i in range(1000, 1010))
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="nul")["Contents"]] == ["k"]
        # sluice-bench counts generated GETs instead of failing them.
        rep = report(bench(info, "get", "--bucket", "nulb", "--obj.size", "300KiB", "--objects", "10",
                           "--concurrent", "2", "--duration", "1s"))
        assert rep["generated_gets"] == op(rep, "GET")["ops"] > 0
        assert op(rep, "GET")["errors"] == {}
        rep = report(bench(info, "multipart", "--bucket", "nulb", "--obj.size", "11MiB", "--part.size", "5MiB",
                           "--concurrent", "2", "--count", "2"))
        assert op(rep, "MULTIPART")["ops"] == 2
    finally:
        stop_sluice(info)
        import shutil
        shutil.rmtree(root, ignore_errors=True)


class TlsProxy:
    """A TLS-terminating proxy on 127.0.0.1 in front of sluice (which has
    no TLS of its own yet), with a fresh self-signed certificate for
    IP:127.0.0.1: enough to drive sluice-bench's --tls for real."""

    def __init__(self, target, folder):
        import socket
        import ssl
        import threading
        self.cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", self.cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        # A server certificate, not a CA: webpki refuses a CA as the end entity.
                        "-addext", "basicConstraints=critical,CA:FALSE"],
                       check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, key)
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        import threading
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            try:
                tls = self.ctx.wrap_socket(raw, server_side=True)
            except OSError:
                raw.close()
                continue
            self.handshakes += 1
            upstream = socket.create_connection(self.target)
            for a, b in ((tls, upstream), (upstream, tls)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(1 << 16):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_tls_with_the_server_certificate_or_insecure(server, tmp_path):
    proxy = TlsProxy(server["endpoint"], str(tmp_path))
    try:
        tls_server = dict(server, endpoint=f"http://127.0.0.1:{proxy.port}")
        for flags in (["--cacert", proxy.cert], ["--insecure"]):
            rep = report(bench(tls_server, "get", "--tls", *flags, "--bucket", "bench-tls", "--obj.size", "100KiB",
                               "--objects", "10", "--concurrent", "2", "--count", "30"))
            assert op(rep, "GET")["ops"] == 30 and op(rep, "GET")["errors"] == {}
        assert proxy.handshakes >= 4
        # Trusting another certificate only, the handshake is refused.
        other = tmp_path / "other"
        other.mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(other / "k.pem"),
                        "-out", str(other / "c.pem"), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
                       check=True, capture_output=True)
        out = bench(tls_server, "put", "--tls", "--cacert", str(other / "c.pem"),
                    "--bucket", "bench-tls", "--count", "1")
        assert out.returncode == 1 and "certificate" in out.stderr.lower(), out.stderr
        # Plain HTTP to the TLS port gets no answer it can read.
        out = bench(tls_server, "put", "--bucket", "bench-tls", "--count", "1", timeout=60)
        assert out.returncode == 1
    finally:
        proxy.close()


def test_response_heads_that_arrive_in_pieces():
    """A server that sends each response head in three writes, 30 ms apart
    (a slow proxy, say): sluice-bench must assemble the head, not read over
    the part it has."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    answered = []

    def serve(conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                answered.append(head.split(b" ")[0])
                for piece in (b"HTTP/1.1 200 OK\r\nx-amz-request-id: 1\r\n", b"ETag: \"abc\"\r\nContent-Le",
                              b"ngth: 0\r\n\r\n"):
                    conn.sendall(piece)
                    time.sleep(0.03)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        out = subprocess.run([BENCH, "put", "--host", f"127.0.0.1:{port}", "--access-key", "a", "--secret-key", "b",
                              "--obj.size", "1KiB", "--count", "3", "--concurrent", "1", "--noclear", "--json"],
                             capture_output=True, text=True, timeout=60)
        rep = report(out)
        assert op(rep, "PUT")["ops"] == 3 and op(rep, "PUT")["errors"] == {}
        assert answered.count(b"PUT") == 4, answered  # the bucket, then three objects
    finally:
        listener.close()


def test_small_puts_in_flight_share_syncs_and_read_back_whole(tmp_path):
    """64 small PUTs in flight on one thread, through a real client: they
    share syncfs calls (group commit), most of their bodies go through the
    page cache with one write (issue 19: no fallocate, no O_DIRECT write for
    a body whose sync is shared), and every object reads back whole
    (sluice-bench checks each GET's CRC32C)."""
    from test_observability import free_port, scrape, value

    port = free_port()
    server = start_sluice(tmp_path / "root", "--cores", "0", "--metrics-listen", f"127.0.0.1:{port}")
    try:
        before = scrape(port)
        rep = report(bench(server, "get", "--bucket", "group", "--obj.size", "4KiB", "--objects", "1000",
                           "--concurrent", "64", "--duration", "1500ms", "--checksum", "CRC32C", timeout=300))
        get = op(rep, "GET")
        assert get["ops"] > 0 and get["errors"] == {}, get
        after = scrape(port)
        moved = {name: value(after, name) - value(before, name)
                 for name in ("sluice_group_syncs_total", "sluice_group_sync_waits_total",
                              "sluice_inline_writes_total")}
        # The 1,000 prepared objects: shared syncs, each PUT waiting twice.
        assert moved["sluice_group_syncs_total"] > 0, moved
        assert moved["sluice_group_sync_waits_total"] >= 2 * moved["sluice_group_syncs_total"], moved
        assert 0 < moved["sluice_inline_writes_total"] <= 1000, moved
    finally:
        stop_sluice(server)


def test_the_kernel_floor_tool_builds_runs_and_cleans_up(tmp_path):
    """tools/kernel_floor.py (issue 19's floor under a small durable PUT)
    builds its C programs with gcc, measures each part, and leaves nothing
    in the directory it measured; a program that fails is an error, not a
    figure (a directory that cannot be written)."""
    import sys
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "kernel_floor.py"), "--dir", str(tmp_path),
                        "--rounds", "1", "--objects", "480", "--keys", "200"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = {line.split(" | ")[0].strip("| *"): line.split(" | ")[1].strip(" |*")
            for line in r.stdout.splitlines() if line.startswith("| ") and "---" not in line and "part" not in line}
    assert len(rows) == 6, r.stdout
    values = {k: float(v) for k, v in rows.items()}
    assert all(v > 0 for v in values.values()), values
    floor = next(v for k, v in values.items() if k.startswith("a 4 KiB durable PUT"))
    files = next(v for k, v in values.items() if k.startswith("the same with"))
    assert floor > files
    assert os.listdir(tmp_path) == []
    if os.geteuid() == 0:
        print("skipped the unwritable directory: root writes through file modes")
        return
    locked = tmp_path / "locked"
    locked.mkdir(0o500)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "kernel_floor.py"), "--dir", str(locked),
                        "--rounds", "1", "--objects", "48", "--keys", "48"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
