"""Bucket policies and anonymous access (issue 14). Before, ?policy was
NotImplemented and every unsigned request was refused. Sources: the S3 API
reference of PutBucketPolicy (MalformedPolicy; 204), GetBucketPolicy
(NoSuchBucketPolicy), GetBucketPolicyStatus; the S3 User Guide, "Bucket
policy examples" (Principal "*" grants anonymous access) and GetObject's
"Permissions" (without s3:ListBucket a missing key is 403 AccessDenied,
with it 404 NoSuchKey); the IAM User Guide's evaluation logic (within one
account an identity or a resource policy may allow, and a Deny in either
wins)."""

import json
import time
import urllib.error
import urllib.request

import pytest

from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)


def anonymous(endpoint, method, path, body=None):
    req = urllib.request.Request(endpoint + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_anonymous_access_is_what_the_bucket_policy_grants(cluster):
    c = cluster
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    for b in ("pub", "priv"):
        admin.create_bucket(Bucket=b)
        admin.put_object(Bucket=b, Key="doc", Body=b"hello " + b.encode())
    # Nothing is public without a policy.
    assert anonymous(endpoint, "GET", "/pub/doc")[0] == 403
    c.run("bucket", "policy", "set", "pub", "download")
    assert eventually(lambda: anonymous(endpoint, "GET", "/pub/doc") == (200, b"hello pub"))
    assert anonymous(endpoint, "GET", "/priv/doc")[0] == 403
    # download grants reads only: no list, no write, and a missing key is
    # 403 (its absence is not told to who may not list).
    assert anonymous(endpoint, "GET", "/pub?list-type=2")[0] == 403
    assert anonymous(endpoint, "PUT", "/pub/new", b"x")[0] == 403
    assert anonymous(endpoint, "DELETE", "/pub/doc")[0] == 403
    assert anonymous(endpoint, "GET", "/pub/missing")[0] == 403
    assert anonymous(endpoint, "HEAD", "/pub/missing")[0] == 403
    assert code(lambda: admin.head_object(Bucket="pub", Key="new")) == "NoSuchKey"
    c.run("bucket", "policy", "set", "pub", "public")
    assert eventually(lambda: anonymous(endpoint, "PUT", "/pub/new", b"from anyone")[0] == 200)
    assert admin.get_object(Bucket="pub", Key="new")["Body"].read() == b"from anyone"
    status, listing = anonymous(endpoint, "GET", "/pub?list-type=2")
    assert status == 200 and b"<Key>new</Key>" in listing
    # With ListBucket granted, a missing key is 404.
    assert anonymous(endpoint, "GET", "/pub/missing")[0] == 404
    assert anonymous(endpoint, "DELETE", "/pub/new")[0] == 204
    # The other bucket stays private; bucket operations are not granted.
    assert anonymous(endpoint, "GET", "/priv/doc")[0] == 403
    assert anonymous(endpoint, "DELETE", "/pub")[0] == 403
    assert anonymous(endpoint, "GET", "/")[0] == 403
    c.run("bucket", "policy", "set", "pub", "none")
    assert eventually(lambda: anonymous(endpoint, "GET", "/pub/doc")[0] == 403)


def test_put_get_delete_bucket_policy_over_s3(cluster):
    c = cluster
    c.add_user("ana", "password-ana")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="shared")
    admin.put_object(Bucket="shared", Key="k", Body=b"v")
    assert code(lambda: admin.get_bucket_policy(Bucket="shared")) == "NoSuchBucketPolicy"
    assert code(lambda: admin.get_bucket_policy_status(Bucket="shared")) == "NoSuchBucketPolicy"
    ana = client(endpoint, "ana", "password-ana")
    # Ana has no policy of her own: the bucket's grants her reads, by ARN.
    account = json.loads((c.config / "cluster.json").read_text())["account"]
    grant = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/ana"},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]}]}
    assert code(lambda: ana.get_object(Bucket="shared", Key="k")) == "AccessDenied"
    admin.put_bucket_policy(Bucket="shared", Policy=json.dumps(grant))
    assert json.loads(admin.get_bucket_policy(Bucket="shared")["Policy"]) == grant
    assert admin.get_bucket_policy_status(Bucket="shared")["PolicyStatus"]["IsPublic"] is False
    assert eventually(lambda: code(lambda: ana.get_object(Bucket="shared", Key="k")) == "ok")
    assert code(lambda: ana.put_object(Bucket="shared", Key="k", Body=b"x")) == "AccessDenied"
    # A Deny in the bucket policy wins over the user's own Allow.
    c.run("policy", "attach", "readwrite", "ana")
    assert eventually(lambda: code(lambda: ana.put_object(Bucket="shared", Key="k2", Body=b"x")) == "ok")
    assert code(lambda: ana.delete_object(Bucket="shared", Key="k2")) == "ok"
    deny = dict(grant)
    deny["Statement"] = grant["Statement"] + [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::shared/*"}]
    admin.put_bucket_policy(Bucket="shared", Policy=json.dumps(deny))
    assert admin.get_bucket_policy_status(Bucket="shared")["PolicyStatus"]["IsPublic"] is False
    assert eventually(lambda: code(lambda: ana.delete_object(Bucket="shared", Key="k")) == "AccessDenied")
    assert code(lambda: ana.put_object(Bucket="shared", Key="k2", Body=b"x")) == "ok"
    admin.delete_bucket_policy(Bucket="shared")
    assert code(lambda: admin.get_bucket_policy(Bucket="shared")) == "NoSuchBucketPolicy"
    assert eventually(lambda: code(lambda: ana.delete_object(Bucket="shared", Key="k2")) == "ok")


@pytest.mark.parametrize("policy, problem", [
    ("not json", "valid JSON"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::bkt/*"}]}), "Principal"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": "arn:aws:s3:::other/*"}]}), "invalid resource"),
    (json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "GetObject",
                                "Resource": "arn:aws:s3:::bkt/*"}]}), "invalid action"),
    ('{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Principal": "*", "Action": "s3:*", '
     '"Resource": "arn:aws:s3:::bkt/*"}]}', "duplicate"),
])
def test_malformed_bucket_policies_are_refused_and_change_nothing(cluster, policy, problem):
    c = cluster
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="bkt")
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        admin.put_bucket_policy(Bucket="bkt", Policy=policy)
    assert e.value.response["Error"]["Code"] == "MalformedPolicy"
    assert problem in e.value.response["Error"]["Message"]
    assert code(lambda: admin.get_bucket_policy(Bucket="bkt")) == "NoSuchBucketPolicy"


def test_a_deleted_buckets_policy_does_not_outlive_it(cluster):
    c = cluster
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="gone")
    c.run("bucket", "policy", "set", "gone", "public")
    admin.delete_bucket(Bucket="gone")
    admin.create_bucket(Bucket="gone")
    assert code(lambda: admin.get_bucket_policy(Bucket="gone")) == "NoSuchBucketPolicy"
    admin.put_object(Bucket="gone", Key="k", Body=b"private")
    time.sleep(1.2)
    assert anonymous(endpoint, "GET", "/gone/k")[0] == 403





def test_public_access_block(cluster):
    """S3 User Guide, "Blocking public access": BlockPublicPolicy refuses
    public bucket policies; RestrictPublicBuckets keeps what a public
    policy grants to the account's users."""
    c = cluster
    c.add_user("ana", "password-ana")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="site")
    admin.put_object(Bucket="site", Key="index.html", Body=b"<h1>hi</h1>")
    assert code(lambda: admin.get_public_access_block(Bucket="site")) == "NoSuchPublicAccessBlockConfiguration"
    public = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]})
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": False}
    admin.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration=block)
    assert admin.get_public_access_block(Bucket="site")["PublicAccessBlockConfiguration"] == block
    assert code(lambda: admin.put_bucket_policy(Bucket="site", Policy=public)) == "AccessDenied"
    assert "PublicAccessBlock" in c.run("bucket", "policy", "set", "site", "download", ok=False).stderr
    assert code(lambda: admin.get_bucket_policy(Bucket="site")) == "NoSuchBucketPolicy"
    admin.delete_public_access_block(Bucket="site")
    admin.put_bucket_policy(Bucket="site", Policy=public)
    assert eventually(lambda: anonymous(endpoint, "GET", "/site/index.html")[0] == 200)
    ana = client(endpoint, "ana", "password-ana")
    assert eventually(lambda: code(lambda: ana.get_object(Bucket="site", Key="index.html")) == "ok")
    admin.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration=dict(
        block, BlockPublicPolicy=False, RestrictPublicBuckets=True))
    assert eventually(lambda: anonymous(endpoint, "GET", "/site/index.html")[0] == 403)
    assert code(lambda: ana.get_object(Bucket="site", Key="index.html")) == "ok"
    admin.delete_public_access_block(Bucket="site")
    assert eventually(lambda: anonymous(endpoint, "GET", "/site/index.html")[0] == 200)
