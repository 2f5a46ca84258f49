"""What an S3 user with POSIX ids writes is theirs over POSIX too (issue
14): its objects and the directories made for them are owned by its
--posix-uid/--posix-gid, so the same data keeps meaningful permissions
over NFS and SMB. Before, everything was the server's user's. Only root
may give files away: without root this test says it skipped and why."""

import os

import pytest

from test_iam import client, cluster  # noqa: F401  (the fixture)

MIB = 1 << 20


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root may give files to another uid")
def test_objects_and_their_directories_belong_to_the_users_posix_ids(cluster):
    c = cluster
    c.add_user("alice", "alice-password", "--posix-uid", "4321", "--posix-gid", "8765")
    c.run("policy", "attach", "readwrite", "alice")
    c.add_user("plain", "plain-password")
    c.run("policy", "attach", "readwrite", "plain")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="home")
    alice = client(endpoint, "alice", "alice-password")
    alice.put_object(Bucket="home", Key="a/b/c.txt", Body=b"mine")
    alice.copy_object(Bucket="home", Key="x/copy.txt", CopySource={"Bucket": "home", "Key": "a/b/c.txt"})
    alice.put_object(Bucket="home", Key="folder/", Body=b"")
    # Equal parts complete in place; a short first part is joined.
    for key, sizes in (("big/in-place", [5 * MIB, 5 * MIB, 100]), ("big/joined", [5 * MIB + 1, 7])):
        up = alice.create_multipart_upload(Bucket="home", Key=key)["UploadId"]
        parts = []
        for n, size in enumerate(sizes, 1):
            etag = alice.upload_part(Bucket="home", Key=key, UploadId=up, PartNumber=n, Body=b"p" * size)["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
        alice.complete_multipart_upload(Bucket="home", Key=key, UploadId=up, MultipartUpload={"Parts": parts})
    root = c.root / "home"
    for rel in ("a", "a/b", "a/b/c.txt", "x", "x/copy.txt", "folder", "big", "big/in-place", "big/joined"):
        st = os.stat(root / rel)
        assert (st.st_uid, st.st_gid) == (4321, 8765), rel
    assert alice.get_object(Bucket="home", Key="big/joined")["Body"].read() == b"p" * (5 * MIB + 1) + b"p" * 7
    # A user without POSIX ids writes as the server's user.
    client(endpoint, "plain", "plain-password").put_object(Bucket="home", Key="p/q", Body=b"x")
    for rel in ("p", "p/q"):
        st = os.stat(root / rel)
        assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()), rel
