"""boto3 against a real `sluice serve`: what works today, each checked as a
client sees it, including the errors AWS documents."""

import hashlib
import os
import urllib.error
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config

from conftest import make_client


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_buckets(s3):
    s3.create_bucket(Bucket="bkt-lifecycle", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "bkt-lifecycle" in names
    s3.head_bucket(Bucket="bkt-lifecycle")
    assert s3.get_bucket_location(Bucket="bkt-lifecycle").get("LocationConstraint") in (None, "")
    assert "Status" not in s3.get_bucket_versioning(Bucket="bkt-lifecycle")
    # Creating a bucket one owns again is 200 in us-east-1, as in S3
    # (test_bucket_conformance.py has the other regions).
    s3.create_bucket(Bucket="bkt-lifecycle")
    s3.put_object(Bucket="bkt-lifecycle", Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket="bkt-lifecycle")
    assert error_code(e) == "BucketNotEmpty" and status(e) == 409
    s3.delete_object(Bucket="bkt-lifecycle", Key="k")
    s3.delete_bucket(Bucket="bkt-lifecycle")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket="bkt-lifecycle")
    assert status(e) == 404
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_code(e) == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket="Bad_Name")
    assert error_code(e) == "InvalidBucketName"


def test_put_get_head_delete_with_metadata(s3, bucket):
    body = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c~.bin", Body=body, ContentType="application/x-test",
                        Metadata={"owner": "me"}, CacheControl="no-cache")
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c~.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"owner": "me"}
    assert got["CacheControl"] == "no-cache"
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c~.bin")
    assert head["ContentLength"] == len(body)
    s3.delete_object(Bucket=bucket, Key="dir/a b+c~.bin")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/a b+c~.bin")
    assert error_code(e) == "NoSuchKey" and status(e) == 404
    # Deleting a missing key succeeds, as on S3.
    s3.delete_object(Bucket=bucket, Key="never-there")


def test_ranges_and_conditions(s3, bucket):
    body = bytes(range(256)) * 40
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10000-")
    assert part["ContentRange"] == "bytes 10000-10239/10240" and part["Body"].read() == body[10000:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=20000-")
    assert error_code(e) == "InvalidRange" and status(e) == 416
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["ContentLength"] == len(body)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0000"')
    assert error_code(e) == "PreconditionFailed" and status(e) == 412
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert status(e) == 304
    over = s3.get_object(Bucket=bucket, Key="r", ResponseContentType="text/x-override", ResponseContentDisposition="attachment")
    assert over["ContentType"] == "text/x-override" and over["ContentDisposition"] == "attachment"


def test_listing_with_delimiter_and_pages(s3, bucket):
    keys = sorted([f"photos/2026/{i:04}.jpg" for i in range(150)] + [f"docs/{i}.txt" for i in range(30)] + ["top", "a b+c"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"k")
    paginator = s3.get_paginator("list_objects_v2")
    listed = [o["Key"] for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 37}) for o in page.get("Contents", [])]
    assert listed == keys
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["docs/", "photos/"]
    assert [o["Key"] for o in top["Contents"]] == ["a b+c", "top"]
    sub = s3.list_objects_v2(Bucket=bucket, Prefix="photos/2026/00", MaxKeys=5, StartAfter="photos/2026/0003.jpg")
    assert [o["Key"] for o in sub["Contents"]] == [f"photos/2026/{i:04}.jpg" for i in range(4, 9)]
    assert sub["IsTruncated"] is True
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 50})
          for o in page.get("Contents", [])]
    assert v1 == keys


def test_default_checksums_and_checksum_mode(s3, bucket):
    # Current boto3 sends a CRC32 by default, nothing changed on the client.
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"checksummed")
    assert "ChecksumCRC32" in put
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]
    put = s3.put_object(Bucket=bucket, Key="c2", Body=b"sha", ChecksumAlgorithm="SHA256")
    assert s3.head_object(Bucket=bucket, Key="c2", ChecksumMode="ENABLED")["ChecksumSHA256"] == put["ChecksumSHA256"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert error_code(e) == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_content_md5(s3, bucket):
    import base64
    good = base64.b64encode(hashlib.md5(b"md5 body").digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=b"md5 body", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="m2", Body=b"md5 body", ContentMD5=wrong)
    assert error_code(e) == "BadDigest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="m3", Body=b"md5 body", ContentMD5="not-base64!")
    assert error_code(e) == "InvalidDigest"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="m2")


def test_wrong_credentials(server, bucket):
    wrong_secret = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id=server["access"],
                                aws_secret_access_key="wrong" + server["secret"], region_name="us-east-1",
                                config=Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong_secret.put_object(Bucket=bucket, Key="x", Body=b"x" * 100000)
    assert error_code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = boto3.client("s3", endpoint_url=server["endpoint"], aws_access_key_id="AKIDUNKNOWN",
                           aws_secret_access_key="x", region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.list_buckets()
    assert error_code(e) == "InvalidAccessKeyId" and status(e) == 403


def test_presigned_url_and_sigv2(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"presigned")
    signer = make_client(server, signature_version="s3v4")
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60)
    assert urllib.request.urlopen(url).read() == b"presigned"
    # A SigV2 URL (boto3's default presigner for S3 without a region
    # config) is verified too now (issue 13; test_sigv2.py has the rest).
    sigv2 = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=60)
    assert urllib.request.urlopen(sigv2).read() == b"presigned"


def test_anonymous_is_denied(server, bucket):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server['endpoint']}/{bucket}/anything")
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()


def test_posix_files_are_served(server, s3, bucket):
    path = os.path.join(server["root"], bucket, "written", "by-posix.txt")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"written straight into the bucket directory")
    got = s3.get_object(Bucket=bucket, Key="written/by-posix.txt")
    assert got["Body"].read() == b"written straight into the bucket directory"
    assert got["ContentType"] == "text/plain"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "written/by-posix.txt" in listed
    # And what S3 writes is a plain file.
    s3.put_object(Bucket=bucket, Key="over/s3.txt", Body=b"over s3")
    with open(os.path.join(server["root"], bucket, "over", "s3.txt"), "rb") as f:
        assert f.read() == b"over s3"


def test_upload_and_download_file_below_multipart_threshold(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024))
    s3.upload_file(str(src), bucket, "files/src.bin")
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "files/src.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_not_implemented_is_never_a_wrong_success(s3, bucket):
    # (ACLs and bucket tagging are implemented now: test_acl_tagging.py.)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert error_code(e) == "NotImplemented" and status(e) == 501
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    # (SSE-S3 is implemented now: test_sse.py; there is no KMS.)
    assert error_code(e) == "NotImplemented"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert error_code(e) == "NotImplemented"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert error_code(e) == "NotImplemented", "never a wrong success"
