"""Issue 13: Signature Version 2, header and presigned. boto3 with
signature_version='s3' (botocore's HmacV1Auth) and presigned URLs from
boto3 and from `aws s3 presign` of aws-cli v1 (HmacV1QueryAuth) are
verified; expired and tampered URLs are refused as S3 refuses them; a
server started with --no-sigv2 answers 400 InvalidRequest, as S3 regions
that accept only SigV4 do."""

import os
import sys
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ROOT, make_client, start_sluice, stop_sluice

# aws-cli v1 (the `awscli` package, tools/requirements.txt) is the suite's
# aws-cli: it lives beside this interpreter in target/venv.
AWSCLI1 = os.path.join(os.path.dirname(sys.executable), "aws")


def fetch(url, headers=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def v2(server):
    return make_client(server, signature_version="s3")


def test_sigv2_client_put_get_list_delete(server, bucket):
    c = v2(server)
    c.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"signed with v2",
                 ContentType="text/plain", Metadata={"reviewed-by": "joe"})
    got = c.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert got["Body"].read() == b"signed with v2"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"reviewed-by": "joe"}
    assert c.head_object(Bucket=bucket, Key="dir/a b+c.txt")["ContentLength"] == 14
    listed = c.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a b+c.txt"]
    assert bucket in [b["Name"] for b in c.list_buckets()["Buckets"]]
    # Sub-resources in the signed resource: ?uploads, ?uploadId&partNumber, ?delete.
    up = c.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = c.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"part one")
    c.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert c.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"part one"
    c.delete_object(Bucket=bucket, Key="dir/a b+c.txt")
    deleted = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "mp"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["mp"]
    assert c.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_sigv2_header_with_a_wrong_secret_is_refused(server, bucket):
    wrong = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=server["access"],
                         aws_secret_access_key="not-the-secret", region_name="us-east-1",
                         config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                       retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_sigv2_presigned_get_with_urllib(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=b"presigned v2")
    url = v2(server).generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "shared file.txt",
        "ResponseContentDisposition": 'attachment; filename="a b.txt"'})
    assert "AWSAccessKeyId=" in url and "X-Amz-" not in url
    status, body, _ = fetch(url)
    assert (status, body) == (200, b"presigned v2")


def test_sigv2_presigned_put(server, s3, bucket):
    # Content-Type is in the SigV2 string to sign (urllib would add one).
    url = v2(server).generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "up", "ContentType": "application/octet-stream"})
    req = urllib.request.Request(url, data=b"via v2 url", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"via v2 url"


def test_sigv2_presigned_expired_is_refused(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # A URL whose Expires is in the past, signed as botocore signs any.
    url = v2(server).generate_presigned_url("get_object", ExpiresIn=-60,
                                            Params={"Bucket": bucket, "Key": "k"})
    status, body, _ = fetch(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_sigv2_presigned_tampered_is_refused(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other", Body=b"secret")
    url = v2(server).generate_presigned_url("get_object", ExpiresIn=300,
                                            Params={"Bucket": bucket, "Key": "k"})
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    expires = query["Expires"][0]
    later = str(int(expires) + 3600)
    signature = query["Signature"][0]
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for tampered in [
        url.replace(f"/{bucket}/k?", f"/{bucket}/other?"),
        url.replace(f"Expires={expires}", f"Expires={later}"),
        url.replace(urllib.parse.quote(signature, safe=""), urllib.parse.quote(flipped, safe="")),
        url + "&response-content-type=text%2Fhtml",
    ]:
        assert tampered != url
        status, body, _ = fetch(tampered)
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, tampered


def test_awscli_v1_presign(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="from cli/v1.txt", Body=b"aws s3 presign")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server["access"], AWS_SECRET_ACCESS_KEY=server["secret"],
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    url = subprocess.run(
        [AWSCLI1, "s3", "presign", f"s3://{bucket}/from cli/v1.txt", "--endpoint-url", server["endpoint"],
         "--expires-in", "300"], env=env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    assert "AWSAccessKeyId=" in url, url  # aws-cli v1 still presigns with SigV2
    status, body, _ = fetch(url)
    assert (status, body) == (200, b"aws s3 presign")


def test_sigv2_virtual_hosted(tmp_path):
    # The signed resource is /bucket/key whatever the addressing style.
    root = tempfile.mkdtemp(prefix="sluice-sigv2-vhost-", dir=os.path.join(ROOT, "target"))
    info = start_sluice(root, "--domain", "s3.sluice.test")
    try:
        port = info["endpoint"].rsplit(":", 1)[1]
        path_style = make_client(info, signature_version="s3")
        path_style.create_bucket(Bucket="vhost")
        vhost = boto3.client("s3", endpoint_url=f"http://s3.sluice.test:{port}",
                             aws_access_key_id=info["access"], aws_secret_access_key=info["secret"],
                             region_name="us-east-1",
                             config=Config(signature_version="s3", s3={"addressing_style": "virtual"}))
        url = vhost.generate_presigned_url("put_object", ExpiresIn=300, Params={
            "Bucket": "vhost", "Key": "a/b", "ContentType": "text/plain"})
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "vhost.s3.sluice.test", url
        direct = urllib.parse.urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query, ""))
        req = urllib.request.Request(direct, data=b"virtual", method="PUT",
                                     headers={"Host": parts.netloc, "Content-Type": "text/plain"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
        assert path_style.get_object(Bucket="vhost", Key="a/b")["Body"].read() == b"virtual"
        url = vhost.generate_presigned_url("list_objects", ExpiresIn=300, Params={"Bucket": "vhost"})
        parts = urllib.parse.urlsplit(url)
        direct = urllib.parse.urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query, ""))
        status, body, _ = fetch(direct, {"Host": parts.netloc})
        assert status == 200 and b"<Key>a/b</Key>" in body
    finally:
        stop_sluice(info)
        shutil.rmtree(root, ignore_errors=True)


def test_no_sigv2_refuses_sigv2():
    root = tempfile.mkdtemp(prefix="sluice-no-sigv2-", dir=os.path.join(ROOT, "target"))
    info = start_sluice(root, "--no-sigv2")
    try:
        v4 = make_client(info, signature_version="s3v4")
        v4.create_bucket(Bucket="no-sigv2")
        v4.put_object(Bucket="no-sigv2", Key="k", Body=b"x")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            v2(info).put_object(Bucket="no-sigv2", Key="k2", Body=b"y")
        err = e.value.response
        assert err["Error"]["Code"] == "InvalidRequest"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "AWS4-HMAC-SHA256" in err["Error"]["Message"]
        url = v2(info).generate_presigned_url("get_object", ExpiresIn=300, Params={"Bucket": "no-sigv2", "Key": "k"})
        status, body, _ = fetch(url)
        assert status == 400 and b"<Code>InvalidRequest</Code>" in body and b"AWS4-HMAC-SHA256" in body
        assert v4.list_objects_v2(Bucket="no-sigv2")["KeyCount"] == 1
        url = v4.generate_presigned_url("get_object", ExpiresIn=300, Params={"Bucket": "no-sigv2", "Key": "k"})
        assert fetch(url)[:2] == (200, b"x")
    finally:
        stop_sluice(info)
        shutil.rmtree(root, ignore_errors=True)
