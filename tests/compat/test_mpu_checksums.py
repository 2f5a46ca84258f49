"""Flexible checksums of multipart uploads (issue 13). Before, the
algorithm and type given to CreateMultipartUpload were ignored, an object
made of parts had no checksum, and a whole-object checksum sent with
CompleteMultipartUpload was NotImplemented; boto3's upload_file (which
asks for CRC32 since s3transfer 0.11) got objects without the checksum
it asked for.

Sources: the AWS S3 User Guide, "Checking object integrity in Amazon S3"
(COMPOSITE: the algorithm over the concatenated part digests, shown with
-N; FULL_OBJECT: the CRC of the whole object, for the CRCs only; CRC64NVME
is FULL_OBJECT only, SHA1/SHA256 COMPOSITE only; the default type is
COMPOSITE but for CRC64NVME), the API reference of CreateMultipartUpload,
UploadPart, CompleteMultipartUpload and GetObjectAttributes, and, for the
error each misuse gets, versitygw's integration tests, which run against
AWS (InvalidRequest for a type the algorithm does not have, a part of
another algorithm, a COMPOSITE part without its checksum, a Complete
that does not name a part's checksum or uses another checksum mode;
InvalidPart for a part checksum that is not the part's; BadDigest for a
whole-object checksum that does not match)."""

import base64
import hashlib
import os
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from conftest import make_client

MIB = 1 << 20


def code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"]


def raw(alg, data):
    if alg == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if alg == "CRC32C":
        return crt.crc32c(data).to_bytes(4, "big")
    if alg == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(alg.lower(), data).digest()


def b64(alg, data):
    return base64.b64encode(raw(alg, data)).decode()


def composite(alg, parts):
    joined = b"".join(raw(alg, p) for p in parts)
    return f"{base64.b64encode(raw(alg, joined)).decode()}-{len(parts)}"


def data_parts():
    return [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]


@pytest.fixture(scope="module")
def plain(server):
    """A client that adds no checksum of its own (boto3 adds CRC32 to
    every part otherwise)."""
    return make_client(server, request_checksum_calculation="when_required",
                       response_checksum_validation="when_required")


def upload(s3, bucket, key, alg, parts, send=True, **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg, **create)
    listed = []
    for n, data in enumerate(parts, 1):
        extra = {"ChecksumAlgorithm": alg} if send else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data, **extra)
        assert r[f"Checksum{alg}"] == b64(alg, data)
        listed.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": r[f"Checksum{alg}"]})
    return up, listed


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_composite_checksums(s3, bucket, alg):
    parts = data_parts()
    up, listed = upload(s3, bucket, "k", alg, parts)
    assert up["ChecksumAlgorithm"] == alg and up["ChecksumType"] == "COMPOSITE"
    lp = s3.list_parts(Bucket=bucket, Key="k", UploadId=up["UploadId"])
    assert (lp["ChecksumAlgorithm"], lp["ChecksumType"]) == (alg, "COMPOSITE")
    assert [p[f"Checksum{alg}"] for p in lp["Parts"]] == [b64(alg, p) for p in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["ChecksumAlgorithm"], u["ChecksumType"]) for u in uploads] == [(alg, "COMPOSITE")]
    expected = composite(alg, parts)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": listed})
    assert (done[f"Checksum{alg}"], done["ChecksumType"]) == (expected, "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (expected, "COMPOSITE")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"] == {f"Checksum{alg}": expected, "ChecksumType": "COMPOSITE"}
    assert attrs["ObjectParts"]["TotalPartsCount"] == 3
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{alg}"] == expected
    assert got["Body"].read() == b"".join(parts)
    # Without checksum mode no checksum is sent.
    assert f"Checksum{alg}" not in s3.head_object(Bucket=bucket, Key="k")


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_checksums(s3, plain, bucket, alg):
    parts = data_parts()
    whole = b"".join(parts)
    kind = {} if alg == "CRC64NVME" else {"ChecksumType": "FULL_OBJECT"}
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=alg, **kind)
    assert up["ChecksumType"] == "FULL_OBJECT"
    listed = []
    for n, data in enumerate(parts, 1):
        # The first part sends its checksum; the others none: the server
        # computes theirs.
        client, extra = (s3, {"ChecksumAlgorithm": alg}) if n == 1 else (plain, {})
        r = client.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=n, Body=data, **extra)
        assert r[f"Checksum{alg}"] == b64(alg, data)
        listed.append({"PartNumber": n, "ETag": r["ETag"]})
    done = plain.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                           MultipartUpload={"Parts": listed}, ChecksumType="FULL_OBJECT",
                                           MpuObjectSize=len(whole), **{f"Checksum{alg}": b64(alg, whole)})
    assert (done[f"Checksum{alg}"], done["ChecksumType"]) == (b64(alg, whole), "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (b64(alg, whole), "FULL_OBJECT")
    # boto3 validates a full-object checksum as it reads.
    assert s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read() == whole


def test_create_refuses_what_an_algorithm_does_not_have(s3, bucket):
    for alg, kind in [("SHA1", "FULL_OBJECT"), ("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")]:
        assert code(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=alg,
                                                       ChecksumType=kind)) == "InvalidRequest"
    assert code(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumType="COMPOSITE")) == \
        "InvalidRequest"
    assert code(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32",
                                                   ChecksumType="PARTIAL")) == "InvalidRequest"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Single-request objects have FULL_OBJECT checksums.
    s3.put_object(Bucket=bucket, Key="one", Body=b"hello", ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")
    assert (head["ChecksumSHA256"], head["ChecksumType"]) == (b64("SHA256", b"hello"), "FULL_OBJECT")


def test_parts_must_be_of_the_uploads_algorithm(s3, plain, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    uid = up["UploadId"]
    assert code(lambda: s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x",
                                       ChecksumAlgorithm="SHA256")) == "InvalidRequest"
    # A COMPOSITE part's checksum is the client's to send.
    assert code(lambda: plain.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")) == \
        "InvalidRequest"
    assert code(lambda: plain.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x",
                                          ChecksumCRC32=b64("CRC32", b"y"))) == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=uid).get("Parts", []) == []


def test_wrong_checksums_on_complete_are_refused_and_change_nothing(s3, plain, bucket):
    parts = data_parts()
    up, listed = upload(s3, bucket, "k", "CRC32", parts)
    uid = up["UploadId"]

    def complete(parts_list, **extra):
        return plain.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid,
                                               MultipartUpload={"Parts": parts_list}, **extra)

    expected = composite("CRC32", parts)
    wrong_part = [dict(p) for p in listed]
    wrong_part[1]["ChecksumCRC32"] = b64("CRC32", b"other")
    assert code(lambda: complete(wrong_part)) == "InvalidPart"
    missing = [dict(p) for p in listed]
    del missing[2]["ChecksumCRC32"]
    assert code(lambda: complete(missing)) == "InvalidRequest"
    assert code(lambda: complete(listed, ChecksumCRC32=composite("CRC32", parts[:2]).split("-")[0])) == "BadDigest"
    assert code(lambda: complete(listed, ChecksumCRC32=expected.split("-")[0] + "-2")) == "BadDigest"
    assert code(lambda: complete(listed, ChecksumSHA256=b64("SHA256", b"x"))) == "InvalidRequest"
    assert code(lambda: complete(listed, ChecksumType="FULL_OBJECT")) == "InvalidRequest"
    assert code(lambda: complete(listed, MpuObjectSize=1)) == "InvalidRequest"
    assert code(lambda: s3.head_object(Bucket=bucket, Key="k")) == "404"
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=uid)["Parts"]) == 3
    # With or without the -N S3 shows.
    done = complete(listed, ChecksumCRC32=expected.split("-")[0], ChecksumType="COMPOSITE",
                    MpuObjectSize=sum(map(len, parts)))
    assert done["ChecksumCRC32"] == expected
    # Sent again after it succeeded (a lost answer): the same answer.
    assert complete(listed)["ChecksumCRC32"] == expected


def test_a_whole_object_checksum_of_an_upload_without_one_is_refused(s3, plain, bucket):
    up = plain.create_multipart_upload(Bucket=bucket, Key="k")
    r = plain.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1, Body=b"abc")
    assert code(lambda: plain.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up["UploadId"], ChecksumCRC32=b64("CRC32", b"abc"),
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})) == "InvalidRequest"
    plain.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert "ChecksumCRC32" not in s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")


def test_copied_parts_get_the_uploads_checksum(s3, plain, bucket):
    source = os.urandom(6 * MIB)
    tail = os.urandom(100)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT")
    uid = up["UploadId"]
    c = s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    assert c["CopyPartResult"]["ChecksumCRC32C"] == b64("CRC32C", source[:5 * MIB])
    r = plain.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=tail)
    whole = source[:5 * MIB] + tail
    done = plain.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, ChecksumCRC32C=b64("CRC32C", whole),
                                           MultipartUpload={"Parts": [
                                               {"PartNumber": 1, "ETag": c["CopyPartResult"]["ETag"]},
                                               {"PartNumber": 2, "ETag": r["ETag"]}]})
    assert done["ChecksumCRC32C"] == b64("CRC32C", whole)


def test_upload_file_gets_the_checksum_boto3_asks_for(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 * MIB)
    path = tmp_path / "f"
    path.write_bytes(data)
    s3.upload_file(str(path), bucket, "f", Config=TransferConfig(multipart_threshold=5 * MIB,
                                                                 multipart_chunksize=5 * MIB))
    head = s3.head_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    chunks = [data[i:i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (composite("CRC32", chunks), "COMPOSITE")
    assert head["ETag"].strip('"').endswith("-3")
