"""Tagging, versions on an unversioned bucket, conditional writes, part
numbers, bucket listing pages and the expected bucket owner, with boto3."""

import os

import boto3
import botocore
import pytest
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged", Tagging="team=storage&env=test")
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]}
    assert tags == {"team": "storage", "env": "test"}
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "a b", "Value": "c&d"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "a b", "Value": "c&d"}]
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged", "tagging leaves the data"
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]})
    assert error_code(e) == "InvalidTag"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert error_code(e) == "NoSuchKey"


def test_versions_of_an_unversioned_bucket_and_emptying_it(server, s3, bucket):
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"v/{i:02}", Body=b"v")
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 5})
    versions = [v for p in pages for v in p.get("Versions", [])]
    assert [v["Key"] for v in versions] == [f"v/{i:02}" for i in range(12)]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
    resource = boto3.resource("s3", endpoint_url=server["endpoint"], aws_access_key_id=server["access"],
                              aws_secret_access_key=server["secret"], region_name="us-east-1")
    resource.Bucket(bucket).object_versions.delete()
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


def test_conditional_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert error_code(e) == "PreconditionFailed" and status(e) == 412
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch=etag)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=etag)
    assert error_code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"third"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    assert error_code(e) == "NoSuchKey"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="once")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="once", UploadId=uid, PartNumber=1, Body=b"p")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="once", UploadId=uid, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert error_code(e) == "PreconditionFailed"


def test_get_and_head_by_part_number(s3, bucket, tmp_path):
    data = os.urandom(12 * MIB + 5)
    src = tmp_path / "parts.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), bucket, "parts", Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB))
    head = s3.head_object(Bucket=bucket, Key="parts", PartNumber=2)
    assert head["PartsCount"] == 3 and head["ContentLength"] == 5 * MIB
    part3 = s3.get_object(Bucket=bucket, Key="parts", PartNumber=3)
    assert part3["Body"].read() == data[10 * MIB:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=4)
    assert status(e) == 416
    s3.put_object(Bucket=bucket, Key="single", Body=b"one part")
    assert s3.get_object(Bucket=bucket, Key="single", PartNumber=1)["Body"].read() == b"one part"


def test_list_buckets_pages_and_prefix(s3):
    for i in range(5):
        s3.create_bucket(Bucket=f"paged-bucket-{i}")
    listed = s3.list_buckets(Prefix="paged-bucket-", MaxBuckets=2)
    assert [b["Name"] for b in listed["Buckets"]] == ["paged-bucket-0", "paged-bucket-1"]
    token = listed["ContinuationToken"]
    rest = s3.list_buckets(Prefix="paged-bucket-", MaxBuckets=10, ContinuationToken=token)
    assert [b["Name"] for b in rest["Buckets"]] == ["paged-bucket-2", "paged-bucket-3", "paged-bucket-4"]
    assert "ContinuationToken" not in rest
    for i in range(5):
        s3.delete_bucket(Bucket=f"paged-bucket-{i}")


def test_expected_bucket_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"o")
    assert s3.get_object(Bucket=bucket, Key="o", ExpectedBucketOwner="sluice")["Body"].read() == b"o"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="o", ExpectedBucketOwner="123456789012")
    assert error_code(e) == "AccessDenied" and status(e) == 403


def test_upload_part_copy_and_object_attributes(s3, bucket):
    source = os.urandom(7 * MIB)
    s3.put_object(Bucket=bucket, Key="source", Body=source, ChecksumAlgorithm="CRC32")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    tail = b"tail bytes"
    p2 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2, Body=tail)
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source[:5 * MIB] + tail
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId="0" * 32, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "source"})
    assert error_code(e) == "NoSuchUpload"
    attrs = s3.get_object_attributes(Bucket=bucket, Key="assembled", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize", "StorageClass"])
    assert attrs["ObjectSize"] == 5 * MIB + len(tail) and attrs["StorageClass"] == "STANDARD"
    assert attrs["ObjectParts"]["TotalPartsCount"] == 2
    assert [p["Size"] for p in attrs["ObjectParts"]["Parts"]] == [5 * MIB, len(tail)]
    single = s3.get_object_attributes(Bucket=bucket, Key="source", ObjectAttributes=["Checksum", "ETag"])
    assert single["Checksum"]["ChecksumCRC32"] == s3.head_object(Bucket=bucket, Key="source", ChecksumMode="ENABLED")["ChecksumCRC32"]
