"""Signs real requests with botocore and records them byte for byte.

Starts a capture server on 127.0.0.1 (HTTP and HTTPS with a throw-away
self-signed certificate), drives boto3 against it in every payload mode it
uses, and writes each raw request to OUT/<name>.raw, the payload the client
meant to send to OUT/<name>.payload, and a line per request to OUT/manifest.
The Rust test botocore.rs verifies them with sluice-http and sluice-sigv4.

Usage: python botocore_capture.py OUT
"""

import os
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request

import boto3
from botocore.config import Config

OUT = sys.argv[1]
ACCESS_KEY, SECRET_KEY = "AKIDSLUICETEST", "sluice/test+secret/key"
LIST_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bucket</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>2</MaxKeys>"
    b"<IsTruncated>false</IsTruncated></ListBucketResult>"
)
current = {"name": None}
recorded = []


def read_request(conn, buf):
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None, buf
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    head += b"\r\n\r\n"
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get(b"expect", b"").lower() == b"100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += conn.recv(65536)
            line, _ = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            need = len(line) + 2 + size + 2
            while len(buf) < need:
                buf += conn.recv(65536)
            if size == 0:
                # Last chunk: read trailers up to the blank line.
                while b"\r\n\r\n" not in buf[len(line):]:
                    buf += conn.recv(65536)
                end = buf.index(b"\r\n\r\n", len(line)) + 4
                body += buf[:end]
                return head + body, buf[end:]
            body += buf[:need]
            buf = buf[need:]
    length = int(headers.get(b"content-length", b"0"))
    while len(buf) < length:
        data = conn.recv(65536)
        if not data:
            break
        buf += data
    return head + buf[:length], buf[length:]


def serve_connection(conn):
    buf = b""
    with conn:
        while True:
            raw, buf = read_request(conn, buf)
            if raw is None:
                return
            recorded.append((current["name"], raw))
            method = raw.split(b" ", 1)[0]
            if method == b"GET" and b"list-type=2" in raw.split(b"\r\n", 1)[0]:
                body = LIST_XML
            elif method == b"GET":
                body = b"hello"
            else:
                body = b""
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nETag: \"0\"\r\nContent-Type: application/xml\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )


def serve(listener, tls):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if tls:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                continue
        threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()


def listen(tls):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    threading.Thread(target=serve, args=(s, tls), daemon=True).start()
    return s.getsockname()[1]


def main():
    os.makedirs(OUT, exist_ok=True)
    cert, key = os.path.join(OUT, "cert.pem"), os.path.join(OUT, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    http_port, https_port = listen(None), listen(tls)

    def client(scheme, port, s3=None, **config):
        return boto3.client(
            "s3",
            endpoint_url=f"{scheme}://127.0.0.1:{port}",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            verify=cert if scheme == "https" else None,
            config=Config(s3={"addressing_style": "path", **(s3 or {})}, retries={"max_attempts": 1}, **config),
        )

    payloads = {}

    def run(name, payload, call):
        current["name"] = name
        payloads[name] = payload
        call()

    http = client("http", http_port)
    https = client("https", https_port)
    big = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MiB: several aws-chunked chunks
    key = "dir/a b+c~!'()*=&$@.txt"
    run("http-put", b"hello over http", lambda: http.put_object(Bucket="bucket", Key=key, Body=b"hello over http"))
    run("http-get", b"", lambda: http.get_object(Bucket="bucket", Key="k"))
    run("http-list", b"", lambda: http.list_objects_v2(Bucket="bucket", Prefix="env:/a b+c", MaxKeys=2))
    run("https-put", big, lambda: https.put_object(Bucket="bucket", Key=key, Body=big))
    for algorithm in ["CRC32C", "CRC64NVME", "SHA1", "SHA256"]:
        run(f"https-put-{algorithm.lower()}", big[:70000],
            lambda a=algorithm: https.put_object(Bucket="bucket", Key="k", Body=big[:70000], ChecksumAlgorithm=a))
    run("https-get", b"", lambda: https.get_object(Bucket="bucket", Key="k"))
    required = client("https", https_port, request_checksum_calculation="when_required")
    run("https-put-when-required", b"plain", lambda: required.put_object(Bucket="bucket", Key="k", Body=b"plain"))
    signed = client("https", https_port, s3={"payload_signing_enabled": True})
    run("https-put-payload-signing", b"signed body", lambda: signed.put_object(Bucket="bucket", Key="k", Body=b"signed body"))
    run("http-upload-part", b"part data", lambda: http.upload_part(
        Bucket="bucket", Key="k", UploadId="abc", PartNumber=3, Body=b"part data"))

    presigner = client("http", http_port, signature_version="s3v4")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "a b/c+d"}, ExpiresIn=3600)
    run("presigned-get", b"", lambda: urllib.request.urlopen(url).read())
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": "bucket", "Key": "up"}, ExpiresIn=600)
    sigv2 = http.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"}, ExpiresIn=60)
    run("presigned-sigv2", b"", lambda: urllib.request.urlopen(sigv2).read())
    # SigV2 (botocore's HmacV1Auth / HmacV1QueryAuth, what aws-cli v1 uses).
    v2 = client("http", http_port, signature_version="s3")
    run("sigv2-put", b"v2 body", lambda: v2.put_object(
        Bucket="bucket", Key=key, Body=b"v2 body", ContentType="text/plain; charset=utf-8",
        Metadata={"Reviewed-By": "joe , jane"}, ACL="private"))
    run("sigv2-get", b"", lambda: v2.get_object(
        Bucket="bucket", Key="k", VersionId="null", ResponseContentDisposition='attachment; filename="a b+c.txt"',
        ResponseContentType="text/plain"))
    run("sigv2-list", b"", lambda: v2.list_objects_v2(Bucket="bucket", Prefix="env:/a b+c", MaxKeys=2))
    run("sigv2-acl", b"", lambda: v2.put_object_acl(Bucket="bucket", Key="k", ACL="private"))
    run("sigv2-delete", b"", lambda: v2.delete_object(Bucket="bucket", Key=key))
    sigv2 = v2.generate_presigned_url("get_object", Params={
        "Bucket": "bucket", "Key": key, "ResponseContentDisposition": 'attachment; filename="x y.txt"'}, ExpiresIn=600)
    run("presigned-sigv2-params", b"", lambda: urllib.request.urlopen(sigv2).read())
    run("presigned-put", b"via url", lambda: urllib.request.urlopen(urllib.request.Request(url, data=b"via url", method="PUT")).read())

    with open(os.path.join(OUT, "manifest"), "w") as manifest:
        for i, (name, raw) in enumerate(recorded):
            base = f"{i:02}-{name}"
            with open(os.path.join(OUT, base + ".raw"), "wb") as f:
                f.write(raw)
            with open(os.path.join(OUT, base + ".payload"), "wb") as f:
                f.write(payloads[name])
            manifest.write(base + "\n")


if __name__ == "__main__":
    main()
