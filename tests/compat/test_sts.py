"""STS AssumeRole and service accounts (issue 14). Before, there were no
temporary credentials and no keys but the root's. Sources: the STS API
reference of AssumeRole (a form posted to the endpoint, signed for `sts`;
DurationSeconds; an inline Policy that narrows; the AssumeRoleResponse),
the IAM User Guide on session policies ("the resulting session's
permissions are the intersection of the identity's policies and the
session policies": never the session policy alone, which is what MinIO's
CVE-2025-62506 got wrong), S3's InvalidToken and ExpiredToken."""

import json
import re
import time

import boto3
from botocore.config import Config

from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)


def sts_client(endpoint, access, secret):
    return boto3.client("sts", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", config=Config(retries={"max_attempts": 1}))


def assume_role(c, user, duration):
    """`sluice sts assume-role` for `user`: the session's credentials."""
    out = c.run("sts", "assume-role", "--user", user, "--duration", duration).stdout
    return dict(re.findall(r"^(\w+): (\S+)$", out, re.M))


def expire_session(c, creds):
    """Makes the session's record say its time is over, and tells the
    servers the configuration changed."""
    path = c.config / "sessions" / f"{creds['AccessKeyId']}.json"
    record = json.loads(path.read_text())
    record["expires"] = int(time.time()) - 1
    path.write_text(json.dumps(record))
    gen = c.config / "generation"
    gen.write_text(str(int(gen.read_text()) + 1))


def temp_client(endpoint, creds, token=None):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"] if token is None else token,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


ONLY_READ_DOCS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::docs/*"}]})
EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def test_assume_role_through_boto3_narrows_and_never_widens(cluster):
    c = cluster
    c.add_user("writer", "writer-password")
    c.run("policy", "attach", "readwrite", "writer")
    c.add_user("reader", "reader-password")
    c.run("policy", "attach", "readonly", "reader")
    a, b = c.serve(), c.serve()
    admin = client(a, *c.admin)
    admin.create_bucket(Bucket="docs")
    admin.put_object(Bucket="docs", Key="k", Body=b"doc")
    got = sts_client(a, "writer", "writer-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="job-1", DurationSeconds=900,
        Policy=ONLY_READ_DOCS)
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("STS") and creds["SessionToken"]
    assert got["AssumedRoleUser"]["Arn"].endswith(":assumed-role/writer/job-1")
    left = creds["Expiration"].timestamp() - time.time()
    assert 880 < left <= 901, left
    # Usable at once on the other server too (made moments ago).
    for endpoint in (a, b):
        s = temp_client(endpoint, creds)
        assert s.get_object(Bucket="docs", Key="k")["Body"].read() == b"doc"
        # The session's policy narrows the writer's rights...
        assert code(lambda: s.put_object(Bucket="docs", Key="new", Body=b"x")) == "AccessDenied"
        assert code(lambda: s.list_objects_v2(Bucket="docs")) == "AccessDenied"
    # ... and a session policy allowing everything does not widen the reader's.
    wide = sts_client(a, "reader", "reader-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="s1", Policy=EVERYTHING)["Credentials"]
    s = temp_client(a, wide)
    assert s.get_object(Bucket="docs", Key="k")["Body"].read() == b"doc"
    assert code(lambda: s.put_object(Bucket="docs", Key="new", Body=b"x")) == "AccessDenied"
    assert code(lambda: s.delete_object(Bucket="docs", Key="k")) == "AccessDenied"
    # Without a session policy, the user's own rights.
    plain = sts_client(a, "writer", "writer-password").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="s1")["Credentials"]
    assert code(lambda: temp_client(a, plain).put_object(Bucket="docs", Key="new", Body=b"x")) == "ok"
    # The token must come with the key, and be its own.
    assert code(lambda: temp_client(a, creds, token="").list_buckets()) in ("InvalidToken", "AccessDenied")
    assert code(lambda: temp_client(a, creds, token=plain["SessionToken"]).get_object(Bucket="docs", Key="k")) == \
        "InvalidToken"
    # A session may not make sessions.
    assert code(lambda: sts_client(a, creds["AccessKeyId"], creds["SecretAccessKey"]).assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="s1")) != "ok"


def test_sessions_expire_and_go_with_their_user(cluster):
    c = cluster
    c.add_user("temp", "temp-password")
    c.run("policy", "attach", "readwrite", "temp")
    endpoint = c.serve()
    creds = assume_role(c, "temp", "15m")
    s = temp_client(endpoint, creds)
    assert code(lambda: s.list_buckets()) == "ok"
    # Time passes (the record says it ended): ExpiredToken.
    expire_session(c, creds)
    assert eventually(lambda: code(lambda: s.list_buckets()) in ("ExpiredToken", "InvalidAccessKeyId"))
    assert "900s to 1w" in c.run("sts", "assume-role", "--user", "temp", "--duration", "60s", ok=False).stderr or \
        "15 minutes" in c.run("sts", "assume-role", "--user", "temp", "--duration", "60s", ok=False).stderr
    fresh = assume_role(c, "temp", "1h")
    assert code(lambda: temp_client(endpoint, fresh).list_buckets()) == "ok"
    c.run("user", "delete", "temp")
    assert eventually(lambda: code(lambda: temp_client(endpoint, fresh).list_buckets()) in
                      ("InvalidAccessKeyId", "InvalidToken", "AccessDenied"))
    assert list((c.config / "sessions").iterdir()) == []


def test_service_accounts_act_as_their_user_narrowed(cluster, tmp_path):
    c = cluster
    c.add_user("app", "app-password")
    c.run("policy", "attach", "readwrite", "app")
    (tmp_path / "ro.json").write_text(ONLY_READ_DOCS)
    out = c.run("service-account", "add", "--user", "app", "--policy", str(tmp_path / "ro.json")).stdout
    access = re.search(r"access key: (\S+)", out).group(1)
    secret = re.search(r"secret key: (\S+)", out).group(1)
    assert secret not in c.run("service-account", "list").stdout
    assert access in c.run("service-account", "list", "--user", "app").stdout
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="docs")
    admin.put_object(Bucket="docs", Key="k", Body=b"doc")
    svc = client(endpoint, access, secret)
    assert svc.get_object(Bucket="docs", Key="k")["Body"].read() == b"doc"
    assert code(lambda: svc.put_object(Bucket="docs", Key="x", Body=b"x")) == "AccessDenied"
    # A service account without a policy has its user's rights; a user
    # with fewer rights makes it fewer.
    out = c.run("service-account", "add", "--user", "app").stdout
    full = client(endpoint, re.search(r"access key: (\S+)", out).group(1),
                  re.search(r"secret key: (\S+)", out).group(1))
    assert code(lambda: full.put_object(Bucket="docs", Key="x", Body=b"x")) == "ok"
    c.run("policy", "detach", "readwrite", "app")
    assert eventually(lambda: code(lambda: full.put_object(Bucket="docs", Key="y", Body=b"y")) == "AccessDenied")
    c.run("service-account", "remove", access)
    assert eventually(lambda: code(lambda: svc.get_object(Bucket="docs", Key="k")) == "InvalidAccessKeyId")
    # Service accounts may live longer than sessions (at most 10 years).
    out = c.run("service-account", "add", "--user", "app", "--expiry", "90d").stdout
    long_lived = re.search(r"access key: (\S+)", out).group(1)
    record = json.loads((c.config / "service-accounts" / f"{long_lived}.json").read_text())
    assert abs(record["expires"] - (time.time() + 90 * 86400)) < 60
    assert "10 years" in c.run("service-account", "add", "--user", "app", "--expiry", "600w", ok=False).stderr
    c.run("user", "delete", "app")
    assert eventually(lambda: code(lambda: full.list_buckets()) == "InvalidAccessKeyId")
    assert list((c.config / "service-accounts").iterdir()) == []
