"""Behind a load balancer every connection comes from the balancer: a
bucket policy's `aws:SourceIp` saw the balancer's address, and one client
sending bad signatures got every client behind the balancer answered 503
SlowDown (the failed-authentication limit counts per source address).
`--proxy-protocol-from` names the balancers that open each connection with
a PROXY protocol header (haproxy's send-proxy / send-proxy-v2); the client
address it carries is the source. Sources: haproxy's "The PROXY protocol"
specification (versions 1 and 2)."""

import json
import socket
import ssl
import struct

import pytest

from conftest import make_client, start_sluice, stop_sluice
from test_iam import cluster, eventually  # noqa: F401  (the fixture)
from test_wire import read_response, signed_head

V2_SIGNATURE = b"\r\n\r\n\0\r\nQUIT\n"


def v1(client_ip, port=40000):
    return f"PROXY TCP4 {client_ip} 127.0.0.1 {port} 9000\r\n".encode()


def v2(client_ip=None, port=40000):
    """A version 2 header: PROXY for `client_ip`, LOCAL (a health check)
    without one."""
    if client_ip is None:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    addrs = socket.inet_aton(client_ip) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", port, 9000)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


# The balancer's address: boto3 setting up from 127.0.0.1 is a client.
BALANCER = "127.0.0.2"


def connect(endpoint, source=BALANCER):
    host, port = endpoint.split("://")[1].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))


def exchange(info, data, source=BALANCER):
    """Sends `data` on a new connection from `source`: the status of the
    answer, 0 when the server closed the connection without one."""
    with connect(info["endpoint"], source) as s:
        s.sendall(data)
        try:
            return read_response(s)[0]
        except ConnectionResetError:
            return 0


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@pytest.fixture
def behind_balancer(cluster):  # noqa: F811 (the fixture)
    # One thread: the failed-authentication count is per thread.
    endpoint = cluster.serve("--cores", "0", "--proxy-protocol-from", BALANCER, "--auth-failure-limit", "5",
                             "--auth-failure-window", "60")
    info = {"endpoint": endpoint, "access": cluster.admin[0], "secret": cluster.admin[1]}
    s3 = make_client(info)
    s3.create_bucket(Bucket="pub")
    s3.put_object(Bucket="pub", Key="k", Body=b"public")
    s3.put_bucket_policy(Bucket="pub", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pub/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}))
    # Bucket policies reach the servers with the config (within a second).
    assert eventually(lambda: exchange(info, v1("203.0.113.7") + get("/pub/k")) == 200)
    return info


def test_the_client_address_of_the_header_is_the_source(behind_balancer):
    info = behind_balancer
    # aws:SourceIp is the client's, by either version of the header.
    assert exchange(info, v1("203.0.113.7") + get("/pub/k")) == 200
    assert exchange(info, v2("203.0.113.8") + get("/pub/k")) == 200
    assert exchange(info, v1("198.51.100.7") + get("/pub/k")) == 403
    assert exchange(info, v2("198.51.100.8") + get("/pub/k")) == 403
    # The balancer's own connections (LOCAL: health checks) are its own.
    assert exchange(info, v2() + get("/minio/health/ready")) == 200
    assert exchange(info, v2() + get("/pub/k")) == 403
    assert exchange(info, b"PROXY UNKNOWN\r\n" + get("/minio/health/live")) == 200
    # A connection from a balancer without a header, or with a broken one,
    # is closed unanswered: nothing it says is taken as a client's.
    assert exchange(info, get("/pub/k")) == 0
    assert exchange(info, b"PROXY TCP4 203.0.113.7 127.0.0.1 99999 1\r\n" + get("/pub/k")) == 0
    assert exchange(info, V2_SIGNATURE + bytes([0x21, 0x11, 0, 4]) + b"\0\0\0\0" + get("/pub/k")) == 0
    # Signed requests work behind the header, on a kept-alive connection.
    with connect(info["endpoint"]) as s:
        s.sendall(v2("203.0.113.9"))
        for _ in range(3):
            s.sendall(signed_head(info, "GET", "/pub/k"))
            status, _, body, _ = read_response(s)
            assert status == 200 and body == b"public"


def test_one_client_behind_the_balancer_cannot_slow_down_the_others(behind_balancer):
    info = behind_balancer
    bad = dict(info, secret="not-the-secret")
    for _ in range(5):
        assert exchange(info, v1("198.51.100.66") + signed_head(bad, "GET", "/")) == 403
    assert exchange(info, v1("198.51.100.66") + signed_head(bad, "GET", "/")) == 503
    # Another client through the same balancer is served.
    assert exchange(info, v1("198.51.100.67") + signed_head(info, "GET", "/")) == 200
    assert exchange(info, v1("198.51.100.66") + signed_head(info, "GET", "/")) == 503


def test_a_header_from_anyone_else_is_not_trusted(tmp_path):
    info = start_sluice(tmp_path / "root", "--cores", "0")
    try:
        make_client(info).create_bucket(Bucket="pub")
        assert exchange(info, v1("203.0.113.7") + get("/pub/k")) == 400
        assert exchange(info, get("/minio/health/live")) == 200
    finally:
        stop_sluice(info)
    info = start_sluice(tmp_path / "root2", "--cores", "0", "--proxy-protocol-from", "192.0.2.0/24")
    try:
        assert exchange(info, v2("203.0.113.7") + get("/minio/health/live")) == 400
        assert exchange(info, get("/minio/health/live")) == 200
    finally:
        stop_sluice(info)


def test_the_header_then_tls(cluster, tmp_path):  # noqa: F811 (the fixture)
    """The header is read byte for byte: the TLS handshake right behind it
    is the TLS layer's, whole."""
    c = cluster
    endpoint = c.serve("--proxy-protocol-from", BALANCER, tls=True)
    ca = tmp_path / "ca.pem"
    c.run("tls", "download", str(ca))
    host, port = endpoint[len("https://"):].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(ca))
    for header in (v1("203.0.113.7"), v2("203.0.113.7"), b"PROXY UNKNOWN\r\n"):
        raw = connect(endpoint)
        raw.sendall(header)
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(get("/minio/health/ready"))
            assert read_response(s)[0] == 200
