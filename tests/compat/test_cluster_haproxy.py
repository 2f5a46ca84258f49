"""Three `sluice serve` nodes over one shared root and config directory,
behind a real haproxy doing round robin with health checks (issue 17).

Each node runs in its own network namespace with its own address (ip netns
and veth pairs, made and removed here) where this process may make them
(root), otherwise on loopback ports; the test says which. haproxy is
Debian's (tools/apt.sh installs it); without it the tests skip, saying so.

The cross-node cases send each step to a chosen node (a multipart upload
created on one node, parts on the others, completed on a third; an
overwrite read back on another node at once; listings; `If-None-Match: *`
racing on two nodes; STS sessions and service accounts; revoked rights;
a deleted bucket), then boto3 and s5cmd go through the balancer. They run
twice: over the shared root itself, and with every node on its own FUSE
mount of it (bindfs: per-mount kernel caches, no O_TMPFILE, locks
forwarded), the nearest this machine comes to NFS (its kernel has neither
an NFS client nor server: docs/DEPLOY.md). The last test kills a node with
SIGKILL during a load run through the balancer."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, ResponseStreamingError

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
from clusterlib import BINDFS, HAPROXY, Balancer, Hosts, run  # noqa: E402
from crash_campaign import body_of  # noqa: E402

from test_iam import Cluster, client, code
from test_integrity import unsigned_head
from test_sts import sts_client, temp_client

MIB = 1024 * 1024


pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (tools/apt.sh installs it as root)")


class Trio:
    """A cluster of three nodes, each on its own host (or port) and view of
    the shared root, and haproxy in front of them."""

    def __init__(self, tmp, view):
        self.c = Cluster(tmp)
        out = self.c.run("cluster", "create", "--root", str(self.c.root), "--config-dir", str(self.c.config),
                         "--all-servers").stdout
        self.admin = ("admin", re.search(r"admin secret key: (\S+)", out).group(1))
        self.hosts = Hosts(3)
        self.mounts = []
        self.roots = [None] * 3
        if view == "fuse":
            for i in range(3):
                m = tmp / f"mnt{i}"
                m.mkdir()
                run(BINDFS, "--multithreaded", "--enable-lock-forwarding", str(self.c.root), str(m))
                self.mounts.append(m)
                self.roots[i] = m
        self.procs = [None] * 3
        self.ends = [None] * 3
        for i in range(3):
            self.start(i)
        print(f"nodes: {self.ends}" + (f" (loopback: {self.hosts.loopback_because})"
                                        if self.hosts.loopback_because else " (one network namespace each)"))
        self.lb = Balancer([(f"node{i}", self.ends[i][len("http://"):]) for i in range(3)])

    def start(self, i):
        self.ends[i] = self.c.serve("--node-name", f"node{i}", listen=self.hosts.listen(i),
                                    prefix=self.hosts.prefix(i), root=self.roots[i])
        self.procs[i] = self.c.servers[-1]

    def open_files(self, i):
        """Descriptors node `i` holds open."""
        return len(os.listdir(f"/proc/{self.procs[i].pid}/fd"))

    def s3(self, i=None, retries=1):
        endpoint = self.lb.endpoint if i is None else self.ends[i]
        if retries == 1:
            return client(endpoint, *self.admin)
        return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=self.admin[0],
                            aws_secret_access_key=self.admin[1], region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": retries, "mode": "standard"},
                                          connect_timeout=2, read_timeout=30))

    def close(self):
        self.lb.close()
        self.c.stop()
        self.hosts.close()
        for m in self.mounts:
            subprocess.run(["umount", str(m)], capture_output=True, timeout=30)


def fuse_usable():
    return BINDFS is not None and os.geteuid() == 0 and os.path.exists("/dev/fuse")


@pytest.fixture(params=["shared", "fuse"])
def trio(request, tmp_path):
    if request.param == "fuse" and not fuse_usable():
        pytest.skip("per-node FUSE views need bindfs, /dev/fuse and root")
    t = Trio(tmp_path, request.param)
    yield t
    t.close()


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


def test_every_operation_is_correct_across_nodes(trio, tmp_path):
    t = trio
    a, b, c = (t.s3(i) for i in range(3))
    nodes = (a, b, c)
    fds_at_start = [t.open_files(i) for i in range(3)]
    # A bucket made on one node is usable on the others at once.
    b.create_bucket(Bucket="cross")
    c.put_object(Bucket="cross", Key="hello", Body=b"hi")
    assert a.get_object(Bucket="cross", Key="hello")["Body"].read() == b"hi"

    # An overwrite on one node is what a GET on another returns right after
    # the PUT answered.
    for i in range(30):
        w, r = nodes[i % 3], nodes[(i + 1) % 3]
        body = f"version {i};".encode() * (i * 37 + 1)
        etag = w.put_object(Bucket="cross", Key="over", Body=body)["ETag"]
        got = r.get_object(Bucket="cross", Key="over")
        assert got["Body"].read() == body and got["ETag"] == etag, i
        assert nodes[(i + 2) % 3].head_object(Bucket="cross", Key="over")["ContentLength"] == len(body)

    # Listings on any node include what another wrote, also in a directory
    # large enough for a node to keep its sorted entries between pages.
    d = t.c.root / "cross" / "big"
    d.mkdir()
    for i in range(1100):
        (d / f"k{i:05}").write_bytes(b"x")

    def keys(node, prefix):
        out, token = [], None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = node.list_objects_v2(Bucket="cross", Prefix=prefix, MaxKeys=400, **kw)
            out += [o["Key"] for o in page.get("Contents", [])]
            if not page["IsTruncated"]:
                return out
            token = page["NextContinuationToken"]

    assert len(keys(b, "big/")) == 1100
    a.put_object(Bucket="cross", Key="big/k00500a", Body=b"new")
    c.delete_object(Bucket="cross", Key="big/k00007")
    for node in nodes:
        got = keys(node, "big/")
        assert len(got) == 1100 and "big/k00500a" in got and "big/k00007" not in got
    assert [o["Key"] for o in c.list_objects_v2(Bucket="cross", Delimiter="/")["Contents"]] == ["hello", "over"]

    # A multipart upload created on one node, parts sent to the others (one
    # re-uploaded on a third), completed on a third, the Complete retried on
    # yet another node answers as the first.
    up = a.create_multipart_upload(Bucket="cross", Key="mp")["UploadId"]
    p1, p2_old, p2, p3 = os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(5 * MIB + 11), os.urandom(999)
    e1 = b.upload_part(Bucket="cross", Key="mp", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    c.upload_part(Bucket="cross", Key="mp", UploadId=up, PartNumber=2, Body=p2_old)
    e2 = a.upload_part(Bucket="cross", Key="mp", UploadId=up, PartNumber=2, Body=p2)["ETag"]
    e3 = c.upload_part(Bucket="cross", Key="mp", UploadId=up, PartNumber=3, Body=p3)["ETag"]
    assert [p["ETag"] for p in b.list_parts(Bucket="cross", Key="mp", UploadId=up)["Parts"]] == [e1, e2, e3]
    assert [u["UploadId"] for u in a.list_multipart_uploads(Bucket="cross")["Uploads"]] == [up]
    parts = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in ((1, e1), (2, e2), (3, e3))]}
    done = c.complete_multipart_upload(Bucket="cross", Key="mp", UploadId=up, MultipartUpload=parts)
    again = b.complete_multipart_upload(Bucket="cross", Key="mp", UploadId=up, MultipartUpload=parts)
    assert again["ETag"] == done["ETag"] and done["ETag"].endswith('-3"')
    assert a.get_object(Bucket="cross", Key="mp")["Body"].read() == p1 + p2 + p3
    assert "Uploads" not in b.list_multipart_uploads(Bucket="cross")

    # `If-None-Match: *` racing on two nodes: exactly one wins, the object
    # is the winner's.
    for i in range(24):
        pair = (nodes[i % 3], nodes[(i + 1) % 3])
        start = threading.Barrier(2)
        results = [None, None]

        def put(j):
            start.wait()
            results[j] = error_code(lambda: pair[j].put_object(Bucket="cross", Key=f"race/{i}", Body=b"from %d" % j,
                                                               IfNoneMatch="*"))

        threads = [threading.Thread(target=put, args=(j,)) for j in (0, 1)]
        [th.start() for th in threads]
        [th.join() for th in threads]
        assert sorted(results) in (["PreconditionFailed", "ok"], ["ConditionalRequestConflict", "ok"]), results
        winner = results.index("ok")
        assert nodes[(i + 2) % 3].get_object(Bucket="cross", Key=f"race/{i}")["Body"].read() == b"from %d" % winner

    # An STS session made on one node works on every node at once; so does
    # a service account made by the CLI.
    t.c.add_user("app", "app-password")
    t.c.run("policy", "attach", "readwrite", "app")
    t0 = time.time()
    waiting = set(range(3))
    while waiting:
        waiting = {i for i in waiting
                   if error_code(lambda: client(t.ends[i], "app", "app-password").list_buckets()) != "ok"}
        assert time.time() - t0 < 2, f"a new user was not usable on nodes {waiting} within 2 s"
        time.sleep(0.05)
    creds = sts_client(t.ends[0], "app", "app-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="cross-node")["Credentials"]
    for end in t.ends:
        assert temp_client(end, creds).get_object(Bucket="cross", Key="hello")["Body"].read() == b"hi"
    out = t.c.run("service-account", "add", "--user", "app").stdout
    access = re.search(r"access key: (\S+)", out).group(1)
    secret = re.search(r"secret key: (\S+)", out).group(1)
    for end in t.ends:
        assert client(end, access, secret).get_object(Bucket="cross", Key="hello")["Body"].read() == b"hi"

    # Rights taken away on the CLI are gone on every node within 2 s.
    t.c.run("policy", "detach", "readwrite", "app")
    t0 = time.time()
    pending = set(range(3))
    while pending:
        for i in list(pending):
            if error_code(lambda: client(t.ends[i], "app", "app-password").get_object(Bucket="cross", Key="hello")) \
                    == "AccessDenied":
                pending.discard(i)
        assert time.time() - t0 < 2, f"nodes {pending} still allowed a detached policy after 2 s"
        time.sleep(0.05)
    for end in t.ends:
        assert code(lambda: temp_client(end, creds).get_object(Bucket="cross", Key="hello")) == "AccessDenied"

    # A bucket deleted on one node is gone on all.
    a.create_bucket(Bucket="gone")
    b.put_object(Bucket="gone", Key="k", Body=b"v")
    c.delete_object(Bucket="gone", Key="k")
    a.delete_bucket(Bucket="gone")
    assert error_code(lambda: b.head_bucket(Bucket="gone")) == "404"
    assert error_code(lambda: c.put_object(Bucket="gone", Key="k", Body=b"v")) == "NoSuchBucket"
    for node in nodes:
        assert "gone" not in [x["Name"] for x in node.list_buckets()["Buckets"]]

    # Through the balancer: boto3 and s5cmd, every request to the next node.
    before = t.lb.stat()
    lb = t.s3()
    for i in range(12):
        lb.put_object(Bucket="cross", Key=f"lb/{i}", Body=b"%d" % i * 1000)
    for i in range(12):
        assert lb.get_object(Bucket="cross", Key=f"lb/{i}")["Body"].read() == b"%d" % i * 1000
    after = t.lb.stat()
    assert all(after[n]["stot"] - before[n]["stot"] >= 4 for n in after), (before, after)
    s5 = shutil.which("s5cmd", path=os.path.dirname(sys.executable))
    env = dict(os.environ, AWS_ACCESS_KEY_ID=t.admin[0], AWS_SECRET_ACCESS_KEY=t.admin[1], AWS_REGION="us-east-1")
    src = tmp_path / "up"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(os.urandom(30_000 + i))
    (src / "big").write_bytes(os.urandom(12 * MIB + 5))

    def s5cmd(*args):
        r = subprocess.run([s5, "--endpoint-url", t.lb.endpoint, *args], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    s5cmd("cp", "-p", "5", str(src) + "/*", "s3://cross/s5/")
    listing = s5cmd("ls", "s3://cross/s5/*")
    assert all(f"f{i}" in listing for i in range(8)) and "big" in listing
    for f in src.iterdir():
        assert c.get_object(Bucket="cross", Key=f"s5/{f.name}")["Body"].read() == f.read_bytes()
    back = tmp_path / "back"
    back.mkdir()
    s5cmd("cp", "s3://cross/s5/*", str(back) + "/")
    assert sorted(p.name for p in back.iterdir()) == sorted(p.name for p in src.iterdir())
    assert all((back / f.name).read_bytes() == f.read_bytes() for f in src.iterdir())

    # Every file a request opened was closed again (on NFS and FUSE a
    # dropped file's close used to be cancelled: one descriptor per GET and
    # PUT stayed open, and every replaced object stayed as a hidden file).
    time.sleep(0.5)
    for i in range(3):
        assert t.open_files(i) - fds_at_start[i] < 40, (i, fds_at_start[i], t.open_files(i))
    hidden = [p for p in (t.c.root / "cross").rglob(".*") if p.name.startswith((".fuse_hidden", ".nfs"))]
    assert not hidden, hidden


def test_behind_the_balancer_the_client_address_is_the_clients(tmp_path):
    """haproxy with send-proxy-v2 in front of a node started with
    --proxy-protocol-from: a bucket policy's aws:SourceIp sees the client's
    address, not the balancer's (in namespaces the node sees haproxy come
    from the host end of its veth pair, never 127.0.0.1)."""
    c = Cluster(tmp_path)
    out = c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config), "--all-servers").stdout
    admin = ("admin", re.search(r"admin secret key: (\S+)", out).group(1))
    hosts = Hosts(1)
    lb = None
    try:
        balancer = "127.0.0.1" if hosts.loopback_because else hosts.addrs[0].rsplit(".", 1)[0] + ".1"
        end = c.serve("--proxy-protocol-from", balancer, listen=hosts.listen(0), prefix=hosts.prefix(0))
        lb = Balancer([("node0", end[len("http://"):])], mode="tcp", send_proxy=True)
        s3 = client(lb.endpoint, *admin)
        s3.create_bucket(Bucket="pub")
        s3.put_object(Bucket="pub", Key="k", Body=b"public")
        s3.put_bucket_policy(Bucket="pub", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/*",
            "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}]}))
        anonymous = boto3.client("s3", endpoint_url=lb.endpoint, region_name="us-east-1",
                                 config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                                               retries={"max_attempts": 1}))
        t0 = time.time()
        while error_code(lambda: anonymous.get_object(Bucket="pub", Key="k")) != "ok":
            assert time.time() - t0 < 3, "the client's own address was not the request's source"
            time.sleep(0.1)
        # Health checks (LOCAL headers) pass too.
        assert lb.stat()["node0"]["status"] == "UP"
    finally:
        if lb:
            lb.close()
        c.stop()
        hosts.close()


def whole(key, data):
    """Whether `data` is one whole version of `key`."""
    parts = data[:200].split(b"#")
    if len(parts) < 4 or parts[0].decode(errors="replace") != key:
        return False
    return data == body_of(key, int(parts[1]), int(parts[2]))


def test_a_node_killed_under_load(tmp_path):
    """SIGKILL one node during a load run through the balancer: haproxy
    stops sending to it, the others keep serving, every acknowledged write
    reads back whole, nothing partial is visible, and the uploads that were
    in flight on the dead node complete when retried elsewhere or leave
    nothing."""
    t = Trio(tmp_path, "shared")
    try:
        victim = 1
        lb = t.s3(retries=8)
        lb.create_bucket(Bucket="load")
        direct = {"endpoint": t.ends[victim], "access": t.admin[0], "secret": t.admin[1]}

        # Two uploads caught on the victim by the kill, half sent: a PUT
        # and a part of a multipart upload.
        up = lb.create_multipart_upload(Bucket="load", Key="caught/mp")["UploadId"]
        part1 = os.urandom(5 * MIB)
        e1 = lb.upload_part(Bucket="load", Key="caught/mp", UploadId=up, PartNumber=1, Body=part1)["ETag"]
        caught = []
        for path in ("/load/caught/put", f"/load/caught/mp?partNumber=2&uploadId={up}"):
            host, port = t.ends[victim][len("http://"):].rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(unsigned_head(direct, "PUT", path, 4 * MIB) + os.urandom(2 * MIB))
            caught.append(s)

        acked = {}
        failures = []
        stop = threading.Event()
        retried = [0]
        lock = threading.Lock()

        def writer(w):
            rnd = random.Random(w)
            s3 = t.s3(retries=8)
            seq = 0
            while not stop.is_set():
                key = f"w{w}/k{rnd.randrange(6)}"
                seq += 1
                size = rnd.choice((1000, 64 * 1024, 700 * 1024, 3 * MIB))
                data = body_of(key, seq, size)
                try:
                    if w == 0 and seq % 3 == 0:
                        u = s3.create_multipart_upload(Bucket="load", Key=key)["UploadId"]
                        data = body_of(key, seq, 5 * MIB + 77)
                        p = [data[:5 * MIB], data[5 * MIB:]]
                        tags = [s3.upload_part(Bucket="load", Key=key, UploadId=u, PartNumber=n + 1,
                                               Body=p[n])["ETag"] for n in range(2)]
                        r = s3.complete_multipart_upload(Bucket="load", Key=key, UploadId=u, MultipartUpload={
                            "Parts": [{"PartNumber": n + 1, "ETag": tags[n]} for n in range(2)]})
                    else:
                        r = s3.put_object(Bucket="load", Key=key, Body=data)
                    with lock:
                        acked[key] = seq
                        retried[0] += r["ResponseMetadata"]["RetryAttempts"]
                    # A GET whose body was streaming from the node at its
                    # death is cut short (the client sees it) and read again,
                    # as S3 clients do.
                    for again in range(3):
                        try:
                            got = s3.get_object(Bucket="load", Key=key)["Body"].read()
                            break
                        except ResponseStreamingError:
                            if again == 2:
                                raise
                    # One writer per key: what it reads is what it wrote.
                    if got != data:
                        failures.append(f"{key}#{seq}: read back {len(got)} bytes, not its own")
                except Exception as e:  # noqa: BLE001 (counted and reported)
                    failures.append(f"{key}#{seq}: {e}")

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        [th.start() for th in threads]
        time.sleep(2)
        t.procs[victim].send_signal(signal.SIGKILL)
        killed_at = time.time()
        t.procs[victim].wait()
        while t.lb.stat()[f"node{victim}"]["status"] != "DOWN":
            assert time.time() - killed_at < 5, "haproxy still sends to the killed node"
            time.sleep(0.05)
        down_after = time.time() - killed_at
        sent_to_dead = t.lb.stat()[f"node{victim}"]["stot"]
        time.sleep(3)
        stop.set()
        [th.join(timeout=120) for th in threads]
        assert not failures, failures[:5]
        assert t.lb.stat()[f"node{victim}"]["stot"] == sent_to_dead, "haproxy sent to the dead node"
        for s in caught:
            s.close()

        # The survivors keep serving, with no retries needed.
        plain = t.s3()
        for i in range(12):
            plain.put_object(Bucket="load", Key=f"after/{i}", Body=b"after")
            assert plain.get_object(Bucket="load", Key=f"after/{i}")["Body"].read() == b"after"

        # The caught PUT left nothing; retried elsewhere it completes. The
        # caught part, retried elsewhere, completes its upload.
        assert error_code(lambda: plain.head_object(Bucket="load", Key="caught/put")) == "404"
        plain.put_object(Bucket="load", Key="caught/put", Body=b"retried")
        part2 = os.urandom(1234)
        e2 = plain.upload_part(Bucket="load", Key="caught/mp", UploadId=up, PartNumber=2, Body=part2)["ETag"]
        plain.complete_multipart_upload(Bucket="load", Key="caught/mp", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        assert plain.get_object(Bucket="load", Key="caught/mp")["Body"].read() == part1 + part2
        assert plain.get_object(Bucket="load", Key="caught/put")["Body"].read() == b"retried"

        # No object is partial; every acknowledged write is there, whole,
        # at its version or a later one; no upload is left open.
        listed = {}
        for page in plain.get_paginator("list_objects_v2").paginate(Bucket="load", Prefix="w"):
            for o in page.get("Contents", []):
                listed[o["Key"]] = o["Size"]
        assert set(acked) <= set(listed)
        for key in listed:
            data = plain.get_object(Bucket="load", Key=key)["Body"].read()
            assert whole(key, data), f"{key}: {len(data)} bytes, not a whole version"
            assert int(data.split(b"#")[1]) >= acked.get(key, 0), key
        assert "Uploads" not in plain.list_multipart_uploads(Bucket="load")

        # The node comes back under its name and haproxy sends to it again.
        t.start(victim)
        t0 = time.time()
        while t.lb.stat()[f"node{victim}"]["status"] != "UP":
            assert time.time() - t0 < 10, "the restarted node was not taken back"
            time.sleep(0.05)
        print(f"killed node marked down after {down_after:.2f} s; {len(acked)} keys acknowledged, "
              f"{retried[0]} retries by boto3")
    finally:
        t.close()
