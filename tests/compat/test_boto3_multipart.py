"""Multipart uploads, copy and multi-delete with boto3 against sluice serve."""

import hashlib
import os

import botocore
import pytest
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def s3_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def test_upload_file_above_multipart_threshold(s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    data = os.urandom(17 * MIB + 12345)
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "big/object.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == len(data)
    parts = [data[i:i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    assert head["ETag"] == s3_etag(parts)
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big/object.bin", str(dst), Config=config)
    assert dst.read_bytes() == data
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_by_hand_and_its_errors(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu", ContentType="video/mp4")
    uid = up["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    p1 = os.urandom(5 * MIB)
    p2 = os.urandom(1000)
    e1 = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [(1, 5 * MIB, e1), (2, 1000, e2)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert error_code(e) == "InvalidPartOrder"
    small = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=3, Body=b"tiny")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": small}]})
    assert error_code(e) == "EntityTooSmall"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"] == s3_etag([p1, p2])
    got = s3.get_object(Bucket=bucket, Key="mpu")
    assert got["Body"].read() == p1 + p2 and got["ContentType"] == "video/mp4"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mpu", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(e) == "NoSuchUpload"
    # Abort removes everything.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid2, PartNumber=1, Body=b"x" * 100)
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid2)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid2)
    assert error_code(e) == "NoSuchUpload"


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain", Metadata={"k": "v"})
    out = s3.copy_object(Bucket=bucket, Key="dst/copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"copy me").hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dst/copy")
    assert got["Body"].read() == b"copy me" and got["Metadata"] == {"k": "v"} and got["ContentType"] == "text/plain"
    s3.copy_object(Bucket=bucket, Key="dst/copy", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   ContentType="application/x-new", Metadata={"new": "1"})
    got = s3.head_object(Bucket=bucket, Key="dst/copy")
    assert got["ContentType"] == "application/x-new" and got["Metadata"] == {"new": "1"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert error_code(e) == "InvalidRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch='"nope"')
    assert error_code(e) == "PreconditionFailed"


def test_delete_objects_and_emptying_a_bucket(s3, bucket):
    keys = [f"many/{i}" for i in range(25)] + ["a&b<c>"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "never-there"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted(keys + ["never-there"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    import boto3
    resource = boto3.resource("s3", endpoint_url=s3.meta.endpoint_url,
                              aws_access_key_id=s3._request_signer._credentials.access_key,
                              aws_secret_access_key=s3._request_signer._credentials.secret_key, region_name="us-east-1")
    resource.Bucket(bucket).objects.all().delete()
    s3.delete_bucket(Bucket=bucket)


def test_copy_source_date_conditions(s3, bucket):
    import datetime
    s3.put_object(Bucket=bucket, Key="dated", Body=b"d")
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    s3.copy_object(Bucket=bucket, Key="c1", CopySource={"Bucket": bucket, "Key": "dated"}, CopySourceIfModifiedSince=past)
    s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": bucket, "Key": "dated"}, CopySourceIfUnmodifiedSince=future)
    for kwargs in [{"CopySourceIfModifiedSince": future}, {"CopySourceIfUnmodifiedSince": past}]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="c3", CopySource={"Bucket": bucket, "Key": "dated"}, **kwargs)
        assert error_code(e) == "PreconditionFailed"
