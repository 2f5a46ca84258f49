"""Metadata larger than an object can keep is refused with S3's 400
MetadataTooLarge, and changes nothing. Before, sluice took any amount,
and past the 4 KiB ext4 gives all of a file's xattrs the write failed
with 500 InternalError after the body was read. S3 limits user-defined
metadata to 2 KB, counted as the bytes of each key and value (AWS S3 User
Guide, "Working with object metadata"); other long headers that still do
not fit get the same answer from the store."""

import pytest
from botocore.exceptions import ClientError


def code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def test_user_metadata_is_limited_to_2_kb(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    # "a" + 2047 bytes: exactly 2 KB.
    s3.put_object(Bucket=bucket, Key="at-limit", Body=b"x", Metadata={"a": "v" * 2047})
    assert len(s3.head_object(Bucket=bucket, Key="at-limit")["Metadata"]["a"]) == 2047
    assert code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"new",
                                      Metadata={"a": "v" * 2048})) == "MetadataTooLarge"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert code(lambda: s3.create_multipart_upload(Bucket=bucket, Key="m",
                                                   Metadata={"a": "v" * 1500, "b": "v" * 1500})) == \
        "MetadataTooLarge"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert code(lambda: s3.copy_object(Bucket=bucket, Key="k2", CopySource={"Bucket": bucket, "Key": "k"},
                                       MetadataDirective="REPLACE", Metadata={"a": "v" * 4000})) == \
        "MetadataTooLarge"
    assert code(lambda: s3.head_object(Bucket=bucket, Key="k2")) == "404"


def test_metadata_the_filesystem_cannot_keep_is_refused_unchanged(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    assert code(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"new", ContentDisposition="d" * 3000,
                                      Metadata={"a": "v" * 1900})) == "MetadataTooLarge"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert code(lambda: s3.put_object(Bucket=bucket, Key="dir/", Body=b"", ContentDisposition="d" * 3000,
                                      Metadata={"a": "v" * 1900})) == "MetadataTooLarge"
    assert code(lambda: s3.head_object(Bucket=bucket, Key="dir/")) == "404"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == ["k"]
    # The limit is the object's, not the server's: the next write is fine.
    s3.put_object(Bucket=bucket, Key="k", Body=b"new", Metadata={"a": "v" * 1900})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"
