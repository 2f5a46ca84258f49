"""What a review of the IAM layer found an attacker could do (issue 14),
each a regression test that failed before its fix."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)
from test_sts import sts_client


def add_policy(c, tmp_path, name, statements, user):
    (tmp_path / f"{name}.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    c.run("policy", "add", name, str(tmp_path / f"{name}.json"))
    c.run("policy", "attach", name, user)


SECRET_DENY = {"Effect": "Deny", "Action": ["s3:GetObject", "s3:DeleteObject"], "Resource": "*",
               "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "secret"}}}


def test_existing_tags_are_the_named_objects(cluster, tmp_path):
    """The copy source's s3:GetObject was checked against the destination's
    tags (copying a secret object to a new key escaped the Deny), and
    DeleteObjects checked no tags at all."""
    c = cluster
    c.add_user("eve", "eve-password")
    c.run("policy", "attach", "readwrite", "eve")
    add_policy(c, tmp_path, "no-secrets", [SECRET_DENY], "eve")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="vault")
    admin.put_object(Bucket="vault", Key="plans", Body=b"secret", Tagging="class=secret")
    eve = client(endpoint, "eve", "eve-password")
    assert code(lambda: eve.get_object(Bucket="vault", Key="plans")) == "AccessDenied"
    assert code(lambda: eve.copy_object(Bucket="vault", Key="mine", CopySource={"Bucket": "vault", "Key": "plans"})) \
        == "AccessDenied"
    assert code(lambda: admin.head_object(Bucket="vault", Key="mine")) == "NoSuchKey"
    up = eve.create_multipart_upload(Bucket="vault", Key="parts")["UploadId"]
    assert code(lambda: eve.upload_part_copy(Bucket="vault", Key="parts", UploadId=up, PartNumber=1,
                                             CopySource={"Bucket": "vault", "Key": "plans"})) == "AccessDenied"
    assert code(lambda: eve.delete_object(Bucket="vault", Key="plans")) == "AccessDenied"
    out = eve.delete_objects(Bucket="vault", Delete={"Objects": [{"Key": "plans"}]})
    assert [e["Code"] for e in out.get("Errors", [])] == ["AccessDenied"]
    assert admin.get_object(Bucket="vault", Key="plans")["Body"].read() == b"secret"


def test_put_object_tagging_is_judged_by_the_tags_it_sets(cluster, tmp_path):
    """s3:RequestObjectTag came from the x-amz-tagging header only, so
    PutObjectTagging (tags in its body) set any tag a policy forbids."""
    c = cluster
    c.add_user("tagger", "tagger-password")
    add_policy(c, tmp_path, "blue-tags", [
        {"Effect": "Allow", "Action": ["s3:PutObjectTagging", "s3:GetObjectTagging"], "Resource": "arn:aws:s3:::tags/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/Team": "blue"}}},
        {"Effect": "Allow", "Action": "s3:GetObjectTagging", "Resource": "arn:aws:s3:::tags/*"}], "tagger")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="tags")
    admin.put_object(Bucket="tags", Key="o", Body=b"x")
    s3 = client(endpoint, "tagger", "tagger-password")
    tags = lambda team: {"TagSet": [{"Key": "Team", "Value": team}]}  # noqa: E731
    assert code(lambda: s3.put_object_tagging(Bucket="tags", Key="o", Tagging=tags("red"))) == "AccessDenied"
    assert admin.get_object_tagging(Bucket="tags", Key="o")["TagSet"] == []
    assert code(lambda: s3.put_object_tagging(Bucket="tags", Key="o", Tagging=tags("blue"))) == "ok"
    assert admin.get_object_tagging(Bucket="tags", Key="o")["TagSet"] == tags("blue")["TagSet"]
    # Whether a key exists is told only to who may list (GetObjectTagging
    # answered 404 to anyone).
    assert code(lambda: s3.get_object_tagging(Bucket="tags", Key="missing")) == "AccessDenied"
    assert code(lambda: admin.get_object_tagging(Bucket="tags", Key="missing")) == "NoSuchKey"


def test_a_policy_that_cannot_be_read_denies_rather_than_vanishes(cluster, tmp_path):
    """An attached policy whose file broke was skipped: its Deny vanished
    while the other policies' Allows stayed."""
    c = cluster
    c.add_user("bob", "bob-password")
    c.run("policy", "attach", "readwrite", "bob")
    add_policy(c, tmp_path, "no-delete", [{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}], "bob")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="keep")
    admin.put_object(Bucket="keep", Key="k", Body=b"x")
    bob = client(endpoint, "bob", "bob-password")
    assert code(lambda: bob.delete_object(Bucket="keep", Key="k")) == "AccessDenied"
    (c.config / "policies" / "no-delete.json").write_text("{ broken")
    gen = c.config / "generation"
    gen.write_text(str(int(gen.read_text()) + 1))
    assert eventually(lambda: code(lambda: bob.get_object(Bucket="keep", Key="k")) == "AccessDenied")
    assert code(lambda: bob.delete_object(Bucket="keep", Key="k")) == "AccessDenied"
    assert admin.get_object(Bucket="keep", Key="k")["Body"].read() == b"x"


def test_sessions_end_with_the_password_and_obey_a_deny(cluster, tmp_path):
    c = cluster
    c.add_user("ops", "ops-password")
    c.run("policy", "attach", "readwrite", "ops")
    endpoint = c.serve()
    creds = sts_client(endpoint, "ops", "ops-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/x", RoleSessionName="s1")["Credentials"]
    from test_sts import temp_client
    assert code(lambda: temp_client(endpoint, creds).list_buckets()) == "ok"
    pw = tmp_path / "new"
    pw.write_text("ops-new-password\n")
    assert "1 session(s) ended" in c.run("user", "passwd", "ops", "--password-file", str(pw)).stdout
    assert eventually(lambda: code(lambda: temp_client(endpoint, creds).list_buckets()) != "ok")
    add_policy(c, tmp_path, "no-sts", [{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}], "ops")
    assert eventually(lambda: code(lambda: sts_client(endpoint, "ops", "ops-new-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/x", RoleSessionName="s2")) == "AccessDenied")


def test_an_unsigned_sts_form_is_refused(cluster):
    """With UNSIGNED-PAYLOAD the form (its narrowing Policy, its duration)
    was taken without a signature: someone in the middle could drop the
    Policy."""
    c = cluster
    c.add_user("ops", "ops-password")
    endpoint = c.serve()
    body = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A0%3Arole%2Fx&RoleSessionName=s1"
    req = AWSRequest(method="POST", url=endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded",
                              "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials("ops", "ops-password"), "sts", "us-east-1").add_auth(req)
    r = urllib.request.Request(endpoint + "/", data=body.encode(), method="POST", headers=dict(req.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r)
    assert e.value.code == 400 and b"SHA-256" in e.value.read()


def test_an_sts_form_swapped_after_signing_or_with_unsigned_headers_does_nothing(cluster):
    """AssumeRole's body is read before it is verified (SDKs sign its hash
    without sending it): a form changed after signing, or an x-amz-* header
    the signature does not cover, must be refused and make no session."""
    c = cluster
    c.add_user("ops", "ops-password")
    endpoint = c.serve()
    signed = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A0%3Arole%2Fx&RoleSessionName=s1" \
             "&Policy=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C" \
             "%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22*%22%7D%5D%7D"
    req = AWSRequest(method="POST", url=endpoint + "/", data=signed,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("ops", "ops-password"), "sts", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())

    def send(body, extra=None):
        r = urllib.request.Request(endpoint + "/", data=body.encode(), method="POST",
                                   headers={**headers, **(extra or {})})
        try:
            with urllib.request.urlopen(r) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    # The narrowing Policy dropped in transit.
    swapped = signed.split("&Policy=")[0]
    status, body = send(swapped)
    assert status == 403 and b"SignatureDoesNotMatch" in body
    status, body = send(signed, {"x-amz-meta-extra": "1"})
    assert status == 403 and b"were not signed" in body
    assert list((c.config / "sessions").iterdir()) == []
    # The form as signed is answered.
    status, body = send(signed)
    assert status == 200 and b"<SessionToken>" in body
