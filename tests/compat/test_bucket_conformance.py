"""S3 conformance of bucket and listing operations (issue 13): each test
names the case it pins and the AWS source its expectation comes from."""

import datetime
import os
import subprocess
from urllib.parse import unquote

import botocore.exceptions
import pytest

from conftest import make_client, start_sluice, stop_sluice
from test_awscli import aws

MIB = 1024 * 1024


@pytest.fixture
def three_part_object(s3, bucket):
    """A 3-part multipart object (5 MiB, 5 MiB, 1 byte): parts other than
    the last must be at least 5 MiB."""
    key = "three-parts"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for n, body in enumerate([b"a" * (5 * MIB), b"b" * (5 * MIB), b"c"], start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    return bucket, key


def test_get_object_attributes_max_parts_header(s3, three_part_object):
    """GetObjectAttributes takes MaxParts and PartNumberMarker as the
    `x-amz-max-parts` and `x-amz-part-number-marker` headers (AWS S3 API
    Reference, GetObjectAttributes: URI Request Parameters; botocore's
    s3 service model puts both in `"location": "header"`).
    NextPartNumberMarker is the last part listed, the marker to send next."""
    bucket, key = three_part_object
    r = s3.get_object_attributes(
        Bucket=bucket, Key=key, MaxParts=1, ObjectAttributes=["ObjectParts"]
    )
    parts = r["ObjectParts"]
    assert parts["TotalPartsCount"] == 3
    assert parts["MaxParts"] == 1
    assert parts["IsTruncated"] is True
    assert [p["PartNumber"] for p in parts["Parts"]] == [1]
    assert parts["Parts"][0]["Size"] == 5 * MIB
    assert parts["NextPartNumberMarker"] == 1

    r = s3.get_object_attributes(
        Bucket=bucket,
        Key=key,
        MaxParts=1,
        PartNumberMarker=parts["NextPartNumberMarker"],
        ObjectAttributes=["ObjectParts"],
    )
    parts = r["ObjectParts"]
    assert parts["PartNumberMarker"] == 1
    assert [p["PartNumber"] for p in parts["Parts"]] == [2]
    assert parts["IsTruncated"] is True
    assert parts["NextPartNumberMarker"] == 2

    r = s3.get_object_attributes(
        Bucket=bucket,
        Key=key,
        MaxParts=5,
        PartNumberMarker=2,
        ObjectAttributes=["ObjectParts"],
    )
    parts = r["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(3, 1)]
    assert parts["IsTruncated"] is False
    assert parts["NextPartNumberMarker"] == 3


@pytest.fixture
def awkward_keys(s3, bucket):
    keys = ["dir one/a+b.txt", "dir one/sub/x", "dir one/z%y", "other"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket, keys


def test_list_objects_v1_url_encoding_leaves_prefix(s3, awkward_keys):
    """With `encoding-type=url` (which boto3 sends by itself), ListObjects
    v1 encodes Delimiter, Marker, NextMarker, Contents/Key and
    CommonPrefixes/Prefix, not the top-level Prefix: botocore's
    handlers.decode_list_object decodes exactly those, so an encoded Prefix
    reached users as `dir%20one%2F`. v2 (decode_list_object_v2) encodes
    Prefix and StartAfter too; ListObjectVersions
    (decode_list_object_versions) KeyMarker, NextKeyMarker, Prefix,
    Delimiter, Versions/Key and CommonPrefixes/Prefix."""
    bucket, keys = awkward_keys
    r = s3.list_objects(Bucket=bucket, Prefix="dir one/", Delimiter="/", Marker="dir one/a")
    assert r["Prefix"] == "dir one/"
    assert r["Delimiter"] == "/"
    assert r["Marker"] == "dir one/a"
    assert [o["Key"] for o in r["Contents"]] == ["dir one/a+b.txt", "dir one/z%y"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir one/sub/"]

    r = s3.list_objects(Bucket=bucket, Prefix="dir one/", MaxKeys=1)
    assert r["Prefix"] == "dir one/"
    assert r["IsTruncated"] is True
    assert [o["Key"] for o in r["Contents"]] == ["dir one/a+b.txt"]

    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir one/", Delimiter="/", StartAfter="dir one/a")
    assert r["Prefix"] == "dir one/"
    assert r["StartAfter"] == "dir one/a"
    assert [o["Key"] for o in r["Contents"]] == ["dir one/a+b.txt", "dir one/z%y"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir one/sub/"]

    r = s3.list_object_versions(Bucket=bucket, Prefix="dir one/", KeyMarker="dir one/a", MaxKeys=1)
    assert r["Prefix"] == "dir one/"
    assert r["KeyMarker"] == "dir one/a"
    assert r["NextKeyMarker"] == "dir one/a+b.txt"
    assert [v["Key"] for v in r["Versions"]] == ["dir one/a+b.txt"]


def test_list_objects_v1_explicit_url_encoding(server, s3, awkward_keys):
    """A client that asks for `encoding-type=url` itself gets the raw
    response: v1's Prefix is sent as it was given (AWS S3 API Reference,
    ListObjects: EncodingType encodes Delimiter, Marker, Prefix of common
    prefixes, NextMarker and Key)."""
    bucket, _ = awkward_keys
    r = s3.list_objects(Bucket=bucket, Prefix="dir one/", Delimiter="/", EncodingType="url")
    assert r["Prefix"] == "dir one/"
    assert [unquote(o["Key"]) for o in r["Contents"]] == ["dir one/a+b.txt", "dir one/z%y"]
    assert [unquote(p["Prefix"]) for p in r["CommonPrefixes"]] == ["dir one/sub/"]


def test_create_owned_bucket_us_east_1_is_200(s3):
    """Re-creating a bucket you own answers 200 in us-east-1 (legacy) and
    409 BucketAlreadyOwnedByYou in every other region (AWS S3 API
    Reference, CreateBucket, Errors: "Amazon S3 returns this error in all
    AWS Regions except in the North Virginia Region")."""
    name = f"owned-again-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def test_create_owned_bucket_elsewhere_is_409(tmp_path):
    info = start_sluice(tmp_path, "--region", "eu-west-1")
    try:
        client = make_client(info)
        name = f"owned-again-{os.getpid()}"
        client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        assert e.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    finally:
        stop_sluice(info)


def test_delete_bucket_of_posix_directories(server, s3):
    """A bucket with no objects is empty, whatever empty directories were
    made in it over POSIX: DeleteBucket deletes it (AWS S3 API Reference,
    DeleteBucket: "All objects ... in the bucket must be deleted before the
    bucket itself can be deleted"; ListObjects shows none). A directory
    object (a key ending in `/`) is an object and keeps it."""
    name = f"posix-dirs-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    for d in ["a/b/c", "a/d", "e"]:
        os.makedirs(os.path.join(server["root"], name, d))
    s3.put_object(Bucket=name, Key="e/marked/", Body=b"")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    assert os.path.isdir(os.path.join(server["root"], name, "a/b/c"))
    s3.delete_object(Bucket=name, Key="e/marked/")
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    r = s3.delete_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not os.path.exists(os.path.join(server["root"], name))


def _creation_date(s3, name):
    return next(b["CreationDate"] for b in s3.list_buckets()["Buckets"] if b["Name"] == name)


def test_bucket_creation_date_is_recorded(server, s3):
    """CreationDate is when the bucket was created (AWS S3 API Reference,
    ListBuckets, Bucket.CreationDate: "Date the bucket was created"), not
    its directory's mtime, which a key added at the top level moves."""
    started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    name = f"created-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    created = _creation_date(s3, name)
    assert created >= started
    # What a write at the top level does to the directory, years back.
    os.utime(os.path.join(server["root"], name), (1_000_000_000, 1_000_000_000))
    s3.put_object(Bucket=name, Key="top-level", Body=b"x")
    assert _creation_date(s3, name) == created
    s3.delete_object(Bucket=name, Key="top-level")
    s3.delete_bucket(Bucket=name)


def test_posix_made_bucket_creation_date_is_its_birth_time(server, s3):
    """A directory made over POSIX is as old as its birth time where the
    filesystem keeps one (statx STATX_BTIME), else its mtime."""
    name = f"posix-created-{os.getpid()}"
    path = os.path.join(server["root"], name)
    os.mkdir(path)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    birth = int(subprocess.run(["stat", "-c", "%W", path], capture_output=True, text=True).stdout)
    created = _creation_date(s3, name).timestamp()
    if birth > 0:
        assert abs(created - birth) < 1
    else:
        assert created == 1_000_000_000
    os.rmdir(path)


def test_aws_s3_rb_force_with_posix_directories(server, s3):
    """`aws s3 rb --force` deletes the objects it lists, then the bucket:
    empty directories made over POSIX (which it cannot list) go with it."""
    name = f"rb-force-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="photos/cat.jpg", Body=b"x")
    os.makedirs(os.path.join(server["root"], name, "photos", "empty", "deeper"))
    os.makedirs(os.path.join(server["root"], name, "other"))
    aws(server, "s3", "rb", "--force", f"s3://{name}")
    assert not os.path.exists(os.path.join(server["root"], name))


def test_a_location_constraint_of_another_region_is_refused(s3):
    """CreateBucket's LocationConstraint was never read: a bucket asked for
    in eu-west-1 was made on a us-east-1 server, and the client believed
    it in eu-west-1. S3 refuses a constraint that does not match the
    endpoint's region (IllegalLocationConstraintException, 400; AWS S3 API
    Reference, CreateBucket, and its error code list). The server's own
    region is accepted (S3 wants it left out for us-east-1; sluice does not
    insist)."""
    name = f"loc-{os.getpid()}"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert e.value.response["Error"]["Code"] == "IllegalLocationConstraintException"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    s3.delete_bucket(Bucket=name)
