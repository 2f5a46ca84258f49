"""HTTPS (issue 15). Before, sluice spoke plain HTTP only. Sources: the
issue (a cluster serves HTTPS with a certificate it generates, clients
trust what `sluice tls download` writes, plain HTTP only when asked for,
plain HTTP to the HTTPS port gets a 400 as nginx answers it), webpki's
rule that a server certificate is not a CA, the IAM condition key
aws:SecureTransport, and each client's CA option: boto3 `verify=` and
AWS_CA_BUNDLE, aws-cli `--ca-bundle`, s5cmd (AWS_CA_BUNDLE), rclone
`--ca-cert`, the minio SDK's urllib3 `ca_certs`, sluice-bench `--cacert`."""

import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import warnings

import boto3
import pytest
import urllib3
from botocore.config import Config
from minio import Minio

from test_iam import cluster, code, eventually  # noqa: F401  (the fixture)

BENCH = os.environ.get("SLUICE_BENCH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug",
                                                        "sluice-bench"))


def tls_client(endpoint, access, secret, ca):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", verify=ca,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_cert(endpoint, ca):
    """The certificate a new connection is served (DER) and its fields."""
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            return s.getpeercert(binary_form=True), s.getpeercert(), s.version()


def served_fields(endpoint, ca):
    """The fields of the certificate served now, None while it is one
    `ca` does not trust (the old one, before a change is picked up)."""
    try:
        return peer_cert(endpoint, ca)[1]
    except ssl.SSLError:
        return None


def start(cluster, *extra):
    c = cluster
    endpoint = c.serve(*extra, tls=True)
    ca = str(c.tmp / "cluster-ca.pem")
    out = c.run("tls", "download", ca).stdout
    assert "wrote" in out
    return endpoint, ca


def test_a_cluster_serves_https_with_a_certificate_clients_can_download(cluster):
    c = cluster
    # `cluster create` made it.
    assert (c.config / "tls" / "cert.pem").is_file()
    endpoint, ca = start(c)
    assert endpoint.startswith("https://127.0.0.1:")
    # The key files are the servers' user's only.
    for f in ("key.pem", "ca.key"):
        assert (c.config / "tls" / f).stat().st_mode & 0o077 == 0
    s3 = tls_client(endpoint, *c.admin, ca)
    s3.create_bucket(Bucket="secure")
    data = os.urandom(9 * 1024 * 1024 + 5)
    s3.put_object(Bucket="secure", Key="big", Body=data)
    assert s3.get_object(Bucket="secure", Key="big")["Body"].read() == data
    assert s3.get_object(Bucket="secure", Key="big", Range="bytes=1000-2000999")["Body"].read() == data[1000:2001000]
    src = c.tmp / "multi.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), "secure", "multi", Config=boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20,
                                                                                          multipart_chunksize=5 << 20))
    assert s3.get_object(Bucket="secure", Key="multi")["Body"].read() == data
    # Without the cluster's certificate, a client refuses the server.
    plain_trust = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=c.admin[0],
                               aws_secret_access_key=c.admin[1], region_name="us-east-1",
                               config=Config(retries={"max_attempts": 1}))
    with pytest.raises(Exception) as refused:
        plain_trust.list_buckets()
    assert "SSL" in repr(refused.value) or "certificate" in repr(refused.value).lower()
    # The server certificate names what it serves and is no CA.
    _, fields, _ = peer_cert(endpoint, ca)
    names = [v for k, v in fields["subjectAltName"]]
    assert "localhost" in names and "127.0.0.1" in names
    info = c.run("tls", "show").stdout
    assert "names: " in info and "localhost" in info and "valid: " in info and "issuer: CN=sluice cluster" in info


def test_only_tls_1_2_and_1_3_are_spoken(cluster):
    endpoint, ca = start(cluster)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    for version, ok in (("TLSv1_1", False), ("TLSv1_2", True), ("TLSv1_3", True)):
        ctx = ssl.create_default_context(cafile=ca)
        # Let this client offer TLS 1.1 (OpenSSL's defaults would not), so
        # that the refusal seen is the server's alert.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
        try:
            with socket.create_connection((host, int(port)), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as s:
                    got = s.version()
            assert ok and got == version.replace("_", "."), f"{version} was accepted ({got})"
        except ssl.SSLError as e:
            assert not ok, f"{version} was refused: {e}"
            assert "ALERT" in str(e), e


def test_plain_http_to_the_https_port_gets_a_400_saying_so(cluster):
    endpoint, _ = start(cluster)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"HTTPS" in answer


def test_plain_http_only_when_asked_for(cluster, tmp_path):
    c = cluster
    port = free_port()
    endpoint, ca = start(c, "--http-listen", f"127.0.0.1:{port}")
    plain = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=c.admin[0],
                         aws_secret_access_key=c.admin[1], region_name="us-east-1",
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    plain.create_bucket(Bucket="both")
    assert tls_client(endpoint, *c.admin, ca).list_buckets()["Buckets"][0]["Name"] == "both"
    # --insecure-http: plain HTTP on --listen.
    insecure = c.serve()
    assert insecure.startswith("http://")
    # --http-listen needs a cluster served over HTTPS.
    r = subprocess.run([os.environ.get("SLUICE_BIN", "sluice"), "serve", "--root", str(tmp_path / "alone"),
                        "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30, env=dict(c.env, SLUICE_CONFIG_DIR=str(tmp_path / "none")))
    assert r.returncode != 0 and "--http-listen" in r.stderr


def test_policies_can_require_tls(cluster, tmp_path):
    """aws:SecureTransport is true over HTTPS and false over plain HTTP."""
    c = cluster
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    (tmp_path / "tls-only.json").write_text(json.dumps(doc))
    c.run("policy", "add", "tls-only", str(tmp_path / "tls-only.json"))
    c.add_user("careful", "careful-password", "--role", "s3")
    c.run("policy", "attach", "tls-only", "careful")
    port = free_port()
    endpoint, ca = start(c, "--http-listen", f"127.0.0.1:{port}")
    secure = tls_client(endpoint, "careful", "careful-password", ca)
    secure.create_bucket(Bucket="tls-only")
    secure.put_object(Bucket="tls-only", Key="k", Body=b"over TLS")
    plain = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="careful",
                         aws_secret_access_key="careful-password", region_name="us-east-1",
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    assert code(lambda: plain.get_object(Bucket="tls-only", Key="k")) == "AccessDenied"
    assert code(lambda: plain.put_object(Bucket="tls-only", Key="k", Body=b"over HTTP")) == "AccessDenied"
    assert secure.get_object(Bucket="tls-only", Key="k")["Body"].read() == b"over TLS"


def test_a_renewed_certificate_reaches_new_connections_and_open_ones_keep_theirs(cluster):
    c = cluster
    endpoint, ca = start(c)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    ctx = ssl.create_default_context(cafile=ca)
    old = urllib3.HTTPSConnectionPool(host, int(port), ssl_context=ctx, maxsize=1, assert_hostname=host)
    assert old.request("GET", "/").status == 403
    before, _, _ = peer_cert(endpoint, ca)
    c.run("tls", "renew", "--tls-san", "renewed.example.test")
    # New connections get the new certificate within 2 seconds.
    assert eventually(lambda: peer_cert(endpoint, ca)[0] != before, within=2.0)
    _, fields, _ = peer_cert(endpoint, ca)
    assert ("DNS", "renewed.example.test") in fields["subjectAltName"]
    # The open connection goes on with its own (the pool reuses it).
    for _ in range(3):
        assert old.request("GET", "/").status == 403
    assert old.num_connections == 1


def test_clients_with_their_ca_options(cluster, tmp_path):
    c = cluster
    endpoint, ca = start(c)
    venv = os.path.dirname(sys.executable)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=c.admin[0], AWS_SECRET_ACCESS_KEY=c.admin[1], AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1")
    src = tmp_path / "f.bin"
    data = os.urandom(200_000)
    src.write_bytes(data)
    # aws-cli: --ca-bundle.
    aws = [os.path.join(venv, "aws"), "--endpoint-url", endpoint, "--ca-bundle", ca]
    subprocess.run([*aws, "s3", "mb", "s3://clients"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*aws, "s3", "cp", str(src), "s3://clients/aws"], env=env, check=True, capture_output=True,
                   timeout=60)
    # s5cmd: AWS_CA_BUNDLE.
    s5 = shutil.which("s5cmd", path=venv)
    subprocess.run([s5, "--endpoint-url", endpoint, "cp", str(src), "s3://clients/s5"],
                   env=dict(env, AWS_CA_BUNDLE=ca), check=True, capture_output=True, timeout=60)
    # rclone: --ca-cert.
    rclone = shutil.which("rclone", path=venv)
    renv = dict(env, RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_SL_TYPE="s3", RCLONE_CONFIG_SL_PROVIDER="Other",
                RCLONE_CONFIG_SL_ENDPOINT=endpoint, RCLONE_CONFIG_SL_ACCESS_KEY_ID=c.admin[0],
                RCLONE_CONFIG_SL_SECRET_ACCESS_KEY=c.admin[1], RCLONE_CONFIG_SL_REGION="us-east-1")
    subprocess.run([rclone, "--ca-cert", ca, "copyto", str(src), "sl:clients/rclone"], env=renv, check=True,
                   capture_output=True, timeout=120)
    # The minio SDK: a urllib3 pool with the CA.
    netloc = urllib.parse.urlsplit(endpoint).netloc
    m = Minio(netloc, access_key=c.admin[0], secret_key=c.admin[1], secure=True, region="us-east-1",
              http_client=urllib3.PoolManager(ca_certs=ca))
    m.put_object("clients", "minio", io.BytesIO(data), len(data))
    # boto3 through AWS_CA_BUNDLE (the README's workflow runs so).
    script = ("import boto3,os;s3=boto3.client('s3',endpoint_url=os.environ['EP']);"
              "print(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='clients')['Contents']))")
    out = subprocess.run([sys.executable, "-c", script], env=dict(env, AWS_CA_BUNDLE=ca, EP=endpoint),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "['aws', 'minio', 'rclone', 's5']", out.stderr
    s3 = tls_client(endpoint, *c.admin, ca)
    for key in ("aws", "minio", "rclone", "s5"):
        assert s3.get_object(Bucket="clients", Key=key)["Body"].read() == data, key
    # sluice-bench: --tls --cacert.
    bench = subprocess.run([BENCH, "get", "--host", netloc, "--access-key", c.admin[0], "--secret-key", c.admin[1],
                            "--tls", "--cacert", ca, "--bucket", "bench-tls", "--obj.size", "100KiB",
                            "--objects", "10", "--concurrent", "2", "--count", "30", "--json"],
                           capture_output=True, text=True, timeout=120)
    assert bench.returncode == 0, bench.stderr
    rep = json.loads(bench.stdout)
    get = next(o for o in rep["operations"] if o["op"] == "GET")
    assert get["ops"] == 30 and get["errors"] == {}


def openssl_cert(folder, name, *, ca=False, dates=None):
    """A self-signed certificate for 127.0.0.1 and localhost, made by
    openssl: CA:FALSE unless `ca` (what `openssl req -x509` makes by
    default), valid for 30 days from now unless `dates` (start, end)."""
    key, cert = str(folder / f"{name}.key"), str(folder / f"{name}.pem")
    keygen = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]
    if dates is None:
        ext = [] if ca else ["-addext", "basicConstraints=critical,CA:FALSE"]
        subprocess.run(["openssl", "req", "-x509", *keygen, "-out", cert, "-days", "30", "-subj", f"/CN={name}",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", *ext], check=True, capture_output=True)
        return cert, key
    # `openssl req` cannot date a certificate in the past; `openssl ca` can.
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("01\n")
    cfg = folder / "ca.cnf"
    cfg.write_text(f"""[ca]
default_ca = d
[d]
dir = {folder}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = any
[any]
commonName = supplied
[v3]
basicConstraints = critical,CA:FALSE
subjectAltName = IP:127.0.0.1,DNS:localhost
""")
    csr = str(folder / f"{name}.csr")
    subprocess.run(["openssl", "req", "-new", *keygen, "-out", csr, "-subj", f"/CN={name}"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-notext", "-config", str(cfg), "-selfsign", "-keyfile", key, "-in", csr,
                    "-out", cert, "-startdate", dates[0], "-enddate", dates[1], "-extensions", "v3"], check=True,
                   capture_output=True)
    return cert, key


def test_a_custom_certificate_is_checked_then_served(cluster, tmp_path):
    c = cluster
    endpoint, ca = start(c)
    before, _, _ = peer_cert(endpoint, ca)
    mine, mine_key = openssl_cert(tmp_path, "mine")
    as_ca, as_ca_key = openssl_cert(tmp_path, "as-ca", ca=True)
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old, old_key = openssl_cert(old_dir, "old", dates=("20200101000000Z", "20210101000000Z"))
    refusals = [
        ((as_ca, as_ca_key), "CA"),
        ((old, old_key), "expired"),
        ((mine, as_ca_key), "key does not go"),
        ((mine_key, mine_key), "no certificate"),
    ]
    for (cert, key), why in refusals:
        r = c.run("tls", "set", "--cert", cert, "--key", key, ok=False)
        assert why in r.stderr, r.stderr
    # Nothing changed.
    assert peer_cert(endpoint, ca)[0] == before
    out = c.run("tls", "set", "--cert", mine, "--key", mine_key).stdout
    assert "CN=mine" in out
    downloaded = str(tmp_path / "trust.pem")
    c.run("tls", "download", downloaded)
    assert eventually(lambda: (served_fields(endpoint, downloaded) or {}).get("subject") == ((("commonName", "mine"),),),
                      within=2.0)
    s3 = tls_client(endpoint, *c.admin, downloaded)
    s3.create_bucket(Bucket="custom")
    show = c.run("tls", "show").stdout
    assert "subject: CN=mine" in show and "127.0.0.1" in show and "localhost" in show
    # renew makes a cluster CA again.
    c.run("tls", "renew")
    c.run("tls", "download", ca)
    assert eventually(lambda: "CN=sluice cluster" in c.run("tls", "show").stdout)
    assert eventually(lambda: served_fields(endpoint, ca) is not None, within=2.0)
    assert served_fields(endpoint, ca)["issuer"][0][0][1].startswith("sluice cluster")


def test_handshakes_that_stall_are_closed_at_the_header_timeout(cluster):
    """A client that opens the HTTPS port and sends nothing, or stops in
    the middle of its ClientHello, holds nothing past --header-timeout: the
    first read or the handshake is cancelled and the socket closed, as a
    slow request head is."""
    c = cluster
    endpoint = c.serve("--header-timeout", "2", tls=True)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    # A handshake record announcing 512 bytes, then 30 of them.
    partial_hello = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03" + os.urandom(24)
    for first in (b"", partial_hello):
        s = socket.create_connection((host, int(port)), timeout=15)
        if first:
            s.sendall(first)
        started = time.monotonic()
        try:
            got = s.recv(1024)
        except ConnectionResetError:
            got = b""
        took = time.monotonic() - started
        s.close()
        assert got == b"" and 1.5 < took < 6, (first[:5], got, took)


def test_a_key_bundled_with_the_chain_is_never_downloaded(cluster, tmp_path):
    """Regression (hostile review): `tls set --cert` with a bundle holding
    the certificate and its key (as haproxy takes them) stored the file as
    it was, and `tls download` handed the private key to clients."""
    c = cluster
    cert, key = openssl_cert(tmp_path, "bundled")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(open(cert, "rb").read() + open(key, "rb").read())
    c.run("tls", "set", "--cert", str(bundle), "--key", key)
    out = tmp_path / "for-clients.pem"
    c.run("tls", "download", str(out))
    assert "PRIVATE KEY" not in out.read_text()
    assert "PRIVATE KEY" not in (c.config / "tls" / "cert.pem").read_text()
    assert out.read_text().count("BEGIN CERTIFICATE") == 1


def test_nothing_is_read_after_close_notify(cluster):
    """Regression (hostile review): after a client's close_notify the server
    went on reading whatever came (up to 4 MiB per connection, held until
    the idle timeout). close_notify ends the connection: the server closes
    it at once."""
    c = cluster
    endpoint, ca = start(c)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    ctx = ssl.create_default_context(cafile=ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    sock = socket.create_connection((host, int(port)), timeout=10)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    tls.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.sendall(outgoing.read())
    answer = b""
    while b"</Error>" not in answer:
        incoming.write(sock.recv(65536))
        try:
            answer += tls.read(65536)
        except ssl.SSLWantReadError:
            pass
    assert answer.startswith(b"HTTP/1.1 403")
    # close_notify, without waiting for the server's, then more bytes.
    try:
        tls.unwrap()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(outgoing.read())
    sock.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
    sock.settimeout(5)
    started = time.monotonic()
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 4
    sock.close()


def new_cluster(tmp, *create_args):
    from test_iam import Cluster
    import re
    c = Cluster(tmp)
    out = c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config), *create_args).stdout
    c.admin = ("admin", re.search(r"admin secret key: (\S+)", out).group(1))
    return c


def test_certificate_names_are_checked_and_kept(tmp_path):
    """Regressions (hostile review): a bad --tls-san left a half-made
    cluster (and its admin secret unshown); URLs and names with spaces were
    taken for host names; `tls renew` dropped the names given at create."""
    from test_iam import Cluster
    bad = Cluster(tmp_path / "bad")
    for name in ("https://s3.example.com:9000", "bad name", "b\u00fccher.example"):
        r = bad.run("cluster", "create", "--root", str(bad.root), "--config-dir", str(bad.config), "--tls-san", name,
                    ok=False)
        assert "neither a host name nor an IP address" in r.stderr, r.stderr
        assert not (bad.config / "cluster.json").exists()
    c = new_cluster(tmp_path / "good", "--tls-san", "s3.example.test", "--tls-san", "10.1.2.3",
                    "--tls-san", "*.s3.example.test")
    try:
        for _ in range(2):
            show = c.run("tls", "show").stdout
            assert "s3.example.test" in show and "10.1.2.3" in show and "*.s3.example.test" in show, show
            c.run("tls", "renew")
        c.run("tls", "renew", "--tls-san", "other.example.test")
        show = c.run("tls", "show").stdout
        assert "other.example.test" in show and "10.1.2.3" not in show
    finally:
        c.stop()


def test_two_clusters_certificates_in_one_bundle(tmp_path):
    """Regression (hostile review): every cluster's CA had the subject
    `sluice cluster default CA`, so a client trusting two clusters in one
    bundle failed on all but the first it found."""
    clusters = [new_cluster(tmp_path / n) for n in ("one", "two")]
    try:
        bundle = tmp_path / "bundle.pem"
        endpoints = []
        for i, c in enumerate(clusters):
            endpoints.append(c.serve(tls=True))
            c.run("tls", "download", str(tmp_path / f"ca{i}.pem"))
        bundle.write_text("".join((tmp_path / f"ca{i}.pem").read_text() for i in range(2)))
        for endpoint in endpoints:
            assert served_fields(endpoint, str(bundle)) is not None, endpoint
    finally:
        for c in clusters:
            c.stop()


def test_set_keeps_the_cluster_ca_and_download_gives_a_root(cluster, tmp_path):
    """Regressions (hostile review): `tls set` deleted the cluster CA, so a
    mistaken set followed by `tls renew` left every client holding the old
    CA failing; `tls download` of a chain without its root wrote an
    intermediate that clients cannot use."""
    c = cluster
    endpoint, ca = start(c)
    mine, mine_key = openssl_cert(tmp_path, "mine")
    c.run("tls", "set", "--cert", mine, "--key", mine_key)
    assert (c.config / "tls" / "ca.pem").is_file()
    c.run("tls", "renew")
    # Clients holding the CA downloaded before the set trust the renewed one.
    assert eventually(lambda: served_fields(endpoint, ca) is not None, within=2.0)
    # A chain whose root is not in it: download says so instead of writing
    # a certificate clients cannot trust.
    inter_dir = tmp_path / "i"
    inter_dir.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(inter_dir / "ca.key"), "-out", str(inter_dir / "ca.pem"), "-days", "30",
                    "-subj", "/CN=test root"], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(inter_dir / "leaf.key"), "-out", str(inter_dir / "leaf.csr"), "-subj", "/CN=leaf"],
                   check=True, capture_output=True)
    (inter_dir / "ext").write_text("basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(inter_dir / "leaf.csr"), "-CA", str(inter_dir / "ca.pem"),
                    "-CAkey", str(inter_dir / "ca.key"), "-CAcreateserial", "-out", str(inter_dir / "leaf.pem"),
                    "-days", "10", "-extfile", str(inter_dir / "ext")], check=True, capture_output=True)
    c.run("tls", "set", "--cert", str(inter_dir / "leaf.pem"), "--key", str(inter_dir / "leaf.key"))
    r = c.run("tls", "download", str(tmp_path / "x.pem"), ok=False)
    assert "no root" in r.stderr
    # With the root in the chain, download gives the root.
    (inter_dir / "chain.pem").write_text((inter_dir / "leaf.pem").read_text() + (inter_dir / "ca.pem").read_text())
    c.run("tls", "set", "--cert", str(inter_dir / "chain.pem"), "--key", str(inter_dir / "leaf.key"))
    c.run("tls", "download", str(tmp_path / "root.pem"))
    assert (tmp_path / "root.pem").read_text().strip() == (inter_dir / "ca.pem").read_text().strip()
    assert eventually(lambda: served_fields(endpoint, str(tmp_path / "root.pem")) is not None, within=2.0)


def test_a_closing_connection_sends_close_notify(cluster):
    """Regression (hostile review): on `Connection: close` the server ended
    TLS with a bare FIN, which strict clients report as a truncation."""
    c = cluster
    endpoint, ca = start(c)
    host, port = urllib.parse.urlsplit(endpoint).netloc.split(":")
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while True:
                chunk = tls.recv(65536)  # raises SSLEOFError on a bare FIN
                if not chunk:
                    break
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 403")


def test_a_client_that_stops_reading_over_tls_is_closed_at_the_send_timeout(cluster):
    """The send timeout holds over TLS: a client that asks for a large
    object and stops reading is cut off, not served forever."""
    c = cluster
    endpoint = c.serve("--send-timeout", "2", tls=True)
    ca = str(c.tmp / "ca.pem")
    c.run("tls", "download", ca)
    s3 = tls_client(endpoint, *c.admin, ca)
    s3.create_bucket(Bucket="big")
    size = 48 << 20
    s3.put_object(Bucket="big", Key="k", Body=os.urandom(size))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "big", "Key": "k"}, ExpiresIn=600)
    parts = urllib.parse.urlsplit(url)
    host, port = parts.netloc.split(":")
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    raw.settimeout(15)
    raw.connect((host, int(port)))
    tls = ctx.wrap_socket(raw, server_hostname=host)
    tls.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    time.sleep(5)
    got = 0
    try:
        while chunk := tls.recv(1 << 20):
            got += len(chunk)
    except (ConnectionResetError, ssl.SSLError):
        pass
    tls.close()
    assert 0 < got < size, got
