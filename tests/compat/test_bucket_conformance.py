"""S3 conformance of bucket and listing operations (issue 13): each test
names the case it pins and the AWS source its expectation comes from."""

import pytest

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
