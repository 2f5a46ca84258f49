"""Issue 13: CompleteMultipartUpload sent again after it succeeded.

A client whose Complete response was lost sends the same Complete again. AWS
answers it with 200 and the completed object's ETag, and changes nothing
(adobe/S3Mock#2586, a script run against S3; ceph/s3-tests
test_multipart_reupload_checksum_and_etag). sluice remembers a completed
upload (a marker in its staging folder) until the stale-upload cleaner's age.

What a retry gets when it is not the same request, or the object is no longer
the one it made, follows Ceph RGW's `check_previously_completed` (ceph/ceph
PR 40594, written against S3): the retry's parts give the ETag they would
make, and only when that is the key's current ETag is the answer 200; else
the upload is gone, 404 NoSuchUpload, which AWS documents for an upload that
"might have been aborted or completed". Nothing is published again.

AbortMultipartUpload of a completed upload: AWS answers 204 while it still
knows the upload, NoSuchUpload later (minio/minio#2250, observed on S3); the
object stays.
"""

import hashlib
import os

import botocore
import pytest

MIB = 1024 * 1024


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def s3_etag(parts):
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def completed(s3, bucket, key):
    """A completed two-part upload: its id, part list and bytes."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/x-retry")["UploadId"]
    p1, p2 = os.urandom(5 * MIB), os.urandom(4096 + 17)
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    parts = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
    first = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert first["ETag"] == s3_etag([p1, p2])
    return uid, parts, p1 + p2, first["ETag"]


def body(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_complete_sent_again_answers_200_and_the_same_etag(s3, bucket):
    uid, parts, data, etag = completed(s3, bucket, "retry/same")
    before = s3.head_object(Bucket=bucket, Key="retry/same")
    for _ in range(2):
        again = s3.complete_multipart_upload(Bucket=bucket, Key="retry/same", UploadId=uid,
                                             MultipartUpload={"Parts": parts})
        assert again["ETag"] == etag
        assert again["Key"] == "retry/same"
    after = s3.head_object(Bucket=bucket, Key="retry/same")
    assert body(s3, bucket, "retry/same") == data
    assert after["ETag"] == etag
    assert after["LastModified"] == before["LastModified"]
    assert after["ContentType"] == "text/x-retry"


def test_completed_upload_is_remembered_but_no_longer_listed(s3, bucket):
    uid, parts, _, etag = completed(s3, bucket, "retry/listed")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    again = s3.complete_multipart_upload(Bucket=bucket, Key="retry/listed", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == etag
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="retry/listed", UploadId=uid)
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="retry/listed", UploadId=uid, PartNumber=3, Body=b"late")
    assert error_code(e) == "NoSuchUpload"


def test_retry_naming_other_parts_is_no_such_upload(s3, bucket):
    uid, parts, data, _ = completed(s3, bucket, "retry/other")
    for other in (parts[:1], [parts[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}],
                  [parts[0], {"PartNumber": 3, "ETag": parts[1]["ETag"]}]):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="retry/other", UploadId=uid,
                                         MultipartUpload={"Parts": other})
        assert error_code(e) == "NoSuchUpload"
    assert body(s3, bucket, "retry/other") == data
    # Another key of the same bucket is another upload.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="retry/elsewhere", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    assert error_code(e) == "NoSuchUpload"
    # The right request still gets its answer.
    s3.complete_multipart_upload(Bucket=bucket, Key="retry/other", UploadId=uid,
                                 MultipartUpload={"Parts": parts})


def test_retry_after_the_object_was_overwritten_is_no_such_upload(s3, bucket):
    """The retry is answered only while the object is the one it made; a PUT
    since then is the key's object and stays (RGW compares the key's ETag)."""
    uid, parts, _, etag = completed(s3, bucket, "retry/overwritten")
    again = s3.complete_multipart_upload(Bucket=bucket, Key="retry/overwritten", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == etag
    s3.put_object(Bucket=bucket, Key="retry/overwritten", Body=b"newer")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="retry/overwritten", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    assert error_code(e) == "NoSuchUpload"
    assert body(s3, bucket, "retry/overwritten") == b"newer"
    s3.delete_object(Bucket=bucket, Key="retry/overwritten")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="retry/overwritten", UploadId=uid,
                                     MultipartUpload={"Parts": parts})
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key="retry/overwritten")


def test_abort_after_complete_is_204_and_keeps_the_object(s3, bucket):
    uid, parts, data, etag = completed(s3, bucket, "retry/aborted")
    resp = s3.abort_multipart_upload(Bucket=bucket, Key="retry/aborted", UploadId=uid)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body(s3, bucket, "retry/aborted") == data
    again = s3.complete_multipart_upload(Bucket=bucket, Key="retry/aborted", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == etag
