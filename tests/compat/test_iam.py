"""Users and policies managed the way WEKA's S3 workflow runs (issue 14):
`sluice cluster create` -> `sluice bucket create` -> `sluice user add` ->
`sluice policy attach readwrite USER` -> `sluice serve` -> boto3 with the
user's name and password as access and secret key. Before, sluice had one
root user and no admin commands. Policy evaluation follows the AWS IAM
User Guide ("Policy evaluation logic"); the built-in policies' actions are
those issue 14 lists."""

import json
import os
import re
import subprocess
import sys
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROOT

SLUICE = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
EXAMPLE = os.path.join(ROOT, "examples", "s3.py")


class Cluster:
    """A cluster in a temporary directory, its CLI and its servers."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root = tmp / "fs"
        self.config = self.root / ".config_fs"
        self.env = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "xdg"))
        self.env.pop("SLUICE_CONFIG_DIR", None)
        self.servers = []

    def run(self, *args, ok=True, stdin=None):
        r = subprocess.run([SLUICE, *args], env=self.env, capture_output=True, text=True, timeout=60, input=stdin)
        if ok:
            assert r.returncode == 0, f"sluice {' '.join(args)}: {r.stderr}"
        else:
            assert r.returncode != 0, f"sluice {' '.join(args)} succeeded: {r.stdout}"
        return r

    def add_user(self, name, password, *extra):
        pw = self.tmp / f"pw-{name}"
        pw.write_text(password + "\n")
        self.run("user", "add", name, "--password-file", str(pw), *extra)

    def serve(self, *extra, tls=False, listen="127.0.0.1:0", prefix=(), root=None):
        """Starts a server; plain HTTP unless `tls` (the suites of other
        layers run over HTTP: test_tls.py is HTTPS's). `prefix` runs it
        through another command (`ip netns exec NS`); `root` serves another
        view of the root (a node's own mount of it)."""
        plain = [] if tls else ["--insecure-http"]
        config = self.config if root is None else root / self.config.relative_to(self.root)
        root = self.root if root is None else root
        proc = subprocess.Popen([*prefix, SLUICE, "serve", "--root", str(root), "--config-dir", str(config),
                                 "--listen", listen, *plain, *extra], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        endpoint = None
        deadline = time.time() + 30
        lines = []
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if endpoint is None and (m := re.search(r" on (https?)://([0-9.]+:[0-9]+)", line)):
                endpoint = m.group(1) + "://" + m.group(2)
            if "users:" in line:
                break
        if endpoint is None:
            proc.kill()
            raise RuntimeError("sluice did not start:\n" + "".join(lines))
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        self.servers.append(proc)
        return endpoint

    def stop(self):
        for p in self.servers:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def client(endpoint, access, secret, verify=None):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", verify=verify,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def code(call):
    try:
        call()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        # HEAD answers have no body: the status is all there is.
        return {"403": "AccessDenied", "404": "NoSuchKey"}.get(got, got)
    return "ok"


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    out = c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config), "--all-servers").stdout
    c.admin = ("admin", re.search(r"admin secret key: (\S+)", out).group(1))
    yield c
    c.stop()


def test_the_weka_workflow_verbatim(cluster, tmp_path):
    """The guide's steps, each a CLI command, then its s3.py as the user,
    over HTTPS with the certificate `sluice tls download` wrote."""
    c = cluster
    # Later commands find the cluster without a flag.
    c.run("bucket", "create", "mybucket1")
    c.add_user("S3_user", "S3_user-password", "--role", "s3")
    c.run("policy", "attach", "readwrite", "S3_user")
    endpoint = c.serve(tls=True)
    assert endpoint.startswith("https://")
    ca = tmp_path / "cluster.pem"
    c.run("tls", "download", str(ca))
    work = tmp_path / "work"
    work.mkdir()
    (work / "myfile").write_text("Hello World!\n")
    env = dict(os.environ, SLUICE_ENDPOINT=endpoint, AWS_ACCESS_KEY_ID="S3_user",
               AWS_SECRET_ACCESS_KEY="S3_user-password", AWS_CA_BUNDLE=str(ca))
    out = subprocess.run([sys.executable, EXAMPLE], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr
    assert (work / "my_downloaded_object").read_text() == "Hello World!\n"
    assert (c.root / "mybucket1" / "my_uploaded_object").read_text() == "Hello World!\n"
    # The admin sees it too; the config directory is not a bucket.
    admin = client(endpoint, *c.admin, verify=str(ca))
    assert [b["Name"] for b in admin.list_buckets()["Buckets"]] == ["mybucket1"]
    assert code(lambda: admin.get_object(Bucket=".config_fs", Key="users/admin.json")) in ("InvalidBucketName", "NoSuchBucket")
    # Files holding secrets are the server user's only.
    for f in (c.config / "users").iterdir():
        assert f.stat().st_mode & 0o077 == 0, f
    assert "S3_user-password" not in c.run("user", "show", "S3_user").stdout
    assert "S3_user-password" not in c.run("user", "list").stdout


# Each operation, and what each built-in policy lets a user do with it.
OPS = ["ListBuckets", "CreateBucket", "PutObject", "GetObject", "HeadObject", "ListObjects", "GetTagging",
       "PutTagging", "Multipart", "Abort", "DeleteObject", "DeleteBucket"]
ALLOWED = {
    "readonly": {"ListBuckets", "GetObject", "HeadObject", "ListObjects", "GetTagging"},
    "readwrite": set(OPS),
    "writeonly": {"PutObject", "Multipart", "Abort"},
    "none": set(),
    None: set(),
}


def try_op(s3, op, bucket, n):
    key = f"k-{op}-{n}"
    calls = {
        "ListBuckets": lambda: s3.list_buckets(),
        "CreateBucket": lambda: s3.create_bucket(Bucket=f"made-{n}"),
        "PutObject": lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x"),
        "GetObject": lambda: s3.get_object(Bucket=bucket, Key="existing")["Body"].read(),
        "HeadObject": lambda: s3.head_object(Bucket=bucket, Key="existing"),
        "ListObjects": lambda: s3.list_objects_v2(Bucket=bucket),
        "GetTagging": lambda: s3.get_object_tagging(Bucket=bucket, Key="existing"),
        "PutTagging": lambda: s3.put_object_tagging(Bucket=bucket, Key="existing",
                                                    Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
        "Multipart": lambda: multipart(s3, bucket, key),
        "Abort": lambda: s3.abort_multipart_upload(Bucket=bucket, Key="existing-upload", UploadId=ABORT[bucket]),
        "DeleteObject": lambda: s3.delete_object(Bucket=bucket, Key="existing-deletable"),
        "DeleteBucket": lambda: s3.delete_bucket(Bucket=f"empty-{n}"),
    }
    return code(calls[op])


ABORT = {}


def multipart(s3, bucket, key):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})


def test_built_in_policies_against_each_operation(cluster):
    c = cluster
    users = {"ro": "readonly", "rw": "readwrite", "wo": "writeonly", "no": "none", "bare": None}
    for name, policy in users.items():
        c.add_user(f"user-{name}", f"password-{name}")
        if policy:
            c.run("policy", "attach", policy, f"user-{name}")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    for n, (name, policy) in enumerate(users.items()):
        bucket = f"matrix-{name}"
        admin.create_bucket(Bucket=bucket)
        admin.create_bucket(Bucket=f"empty-{n}")
        for key in ("existing", "existing-deletable"):
            admin.put_object(Bucket=bucket, Key=key, Body=b"data")
        ABORT[bucket] = admin.create_multipart_upload(Bucket=bucket, Key="existing-upload")["UploadId"]
        s3 = client(endpoint, f"user-{name}", f"password-{name}")
        for op in OPS:
            got = try_op(s3, op, bucket, n)
            want = "ok" if op in ALLOWED[policy] else "AccessDenied"
            assert got == want, f"{name} ({policy}) {op}: {got}"
        # A refused request changed nothing.
        if "DeleteObject" not in ALLOWED[policy]:
            assert admin.get_object(Bucket=bucket, Key="existing-deletable")["Body"].read() == b"data"
        if "PutTagging" not in ALLOWED[policy]:
            assert admin.get_object_tagging(Bucket=bucket, Key="existing")["TagSet"] == []


def test_a_custom_policy_with_deny_not_action_and_conditions(cluster, tmp_path):
    c = cluster
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Home", "Effect": "Allow", "Action": "s3:*",
             "Resource": "arn:aws:s3:::home/${aws:username}/*"},
            {"Sid": "ListHome", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
             "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}},
            {"Sid": "Archive", "Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::archive",
                                                                               "arn:aws:s3:::archive/*"]},
            {"Sid": "ArchiveIsReadOnly", "Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*"],
             "Resource": "arn:aws:s3:::archive/*"},
            {"Sid": "SmallPages", "Effect": "Deny", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::archive",
             "Condition": {"NumericGreaterThan": {"s3:max-keys": 100}}},
        ],
    }
    (tmp_path / "home.json").write_text(json.dumps(policy))
    c.run("policy", "add", "home", str(tmp_path / "home.json"))
    assert "custom" in c.run("policy", "list").stdout
    assert "${aws:username}" in c.run("policy", "show", "home").stdout
    for u in ("ana", "bob"):
        c.add_user(u, f"password-{u}")
        c.run("policy", "attach", "home", u)
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    for b in ("home", "archive"):
        admin.create_bucket(Bucket=b)
    admin.put_object(Bucket="archive", Key="old", Body=b"old")
    ana = client(endpoint, "ana", "password-ana")
    ana.put_object(Bucket="home", Key="ana/notes", Body=b"mine")
    assert ana.get_object(Bucket="home", Key="ana/notes")["Body"].read() == b"mine"
    assert code(lambda: ana.put_object(Bucket="home", Key="bob/notes", Body=b"x")) == "AccessDenied"
    assert code(lambda: ana.list_objects_v2(Bucket="home", Prefix="ana/")) == "ok"
    assert code(lambda: ana.list_objects_v2(Bucket="home", Prefix="bob/")) == "AccessDenied"
    assert code(lambda: ana.list_objects_v2(Bucket="home")) == "AccessDenied"
    # The Deny wins over the Allow of s3:* for everything but reads.
    assert ana.get_object(Bucket="archive", Key="old")["Body"].read() == b"old"
    assert code(lambda: ana.put_object(Bucket="archive", Key="new", Body=b"x")) == "AccessDenied"
    assert code(lambda: ana.delete_object(Bucket="archive", Key="old")) == "AccessDenied"
    assert code(lambda: ana.list_objects_v2(Bucket="archive", MaxKeys=100)) == "ok"
    assert code(lambda: ana.list_objects_v2(Bucket="archive", MaxKeys=101)) == "AccessDenied"
    bob = client(endpoint, "bob", "password-bob")
    assert code(lambda: bob.get_object(Bucket="home", Key="ana/notes")) == "AccessDenied"
    # Removing the policy detaches it: nothing is allowed any more.
    c.run("policy", "remove", "home")
    assert "home" not in c.run("user", "show", "ana").stdout.split("policies:")[1].splitlines()[0]
    assert eventually(lambda: code(lambda: ana.get_object(Bucket="home", Key="ana/notes")) == "AccessDenied")


def eventually(check, within=2.0):
    """Whether `check` holds within `within` seconds (polled)."""
    deadline = time.time() + within
    while True:
        if check():
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.05)


def test_changes_reach_two_servers_on_one_config_dir_within_2_seconds(cluster):
    c = cluster
    a, b = c.serve(), c.serve()
    c.run("bucket", "create", "shared")
    c.add_user("late", "late-password")
    started = time.time()
    c.run("policy", "attach", "readwrite", "late")
    for endpoint in (a, b):
        s3 = client(endpoint, "late", "late-password")
        assert eventually(lambda: code(lambda: s3.put_object(Bucket="shared", Key="k", Body=b"x")) == "ok",
                          within=2.0 - (time.time() - started) + 0.5)
    c.run("policy", "detach", "readwrite", "late")
    for endpoint in (a, b):
        s3 = client(endpoint, "late", "late-password")
        assert eventually(lambda: code(lambda: s3.get_object(Bucket="shared", Key="k")) == "AccessDenied")
    c.run("policy", "attach", "readonly", "late")
    pw = c.tmp / "new-pw"
    pw.write_text("another-password\n")
    c.run("user", "passwd", "late", "--password-file", str(pw))
    for endpoint in (a, b):
        old = client(endpoint, "late", "late-password")
        new = client(endpoint, "late", "another-password")
        assert eventually(lambda: code(lambda: old.get_object(Bucket="shared", Key="k")) == "SignatureDoesNotMatch")
        assert code(lambda: new.get_object(Bucket="shared", Key="k")) == "ok"
    c.run("user", "delete", "late")
    for endpoint in (a, b):
        s3 = client(endpoint, "late", "another-password")
        assert eventually(lambda: code(lambda: s3.list_buckets()) == "InvalidAccessKeyId")


def test_the_cli_refuses_what_it_cannot_do(cluster, tmp_path):
    c = cluster
    assert "a cluster exists in" in c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config),
                                     ok=False).stderr
    short = tmp_path / "short"
    short.write_text("1234567\n")
    assert "8 to 128" in c.run("user", "add", "u1", "--password-file", str(short), ok=False).stderr
    assert "invalid user name" in c.run("user", "add", "a/b", "--password-file", str(short), ok=False).stderr
    c.add_user("u1", "password-1")
    assert "exists already" in c.run("user", "add", "u1", "--password-file", str(c.tmp / "pw-u1"),
                                     ok=False).stderr
    assert "no policy named nope" in c.run("policy", "attach", "nope", "u1", ok=False).stderr
    assert "no user named ghost" in c.run("policy", "attach", "readonly", "ghost", ok=False).stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "GetObject", '
                   '"Resource": "*"}]}')
    assert "invalid action: GetObject" in c.run("policy", "add", "bad", str(bad), ok=False).stderr
    assert "built-in" in c.run("policy", "add", "readonly", str(bad), ok=False).stderr
    assert "cannot be deleted" in c.run("user", "delete", "admin", ok=False).stderr
    # A password from standard input, as scripts give it.
    c.run("user", "add", "u2", stdin="password-2\n")
    c.run("bucket", "create", "full")
    (c.root / "full" / "f").write_text("x")
    assert "not empty" in c.run("bucket", "delete", "full", ok=False).stderr
    c.run("bucket", "delete", "full", "--force")
    assert "full" not in c.run("bucket", "list").stdout
    # Without a cluster, admin commands say what to do.
    env = dict(c.env, XDG_CONFIG_HOME=str(tmp_path / "elsewhere"))
    r = subprocess.run([SLUICE, "user", "list"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "sluice cluster create" in r.stderr


def test_unknown_keys_wrong_secrets_and_anonymous_requests_are_refused(cluster):
    c = cluster
    c.add_user("known", "known-password")
    c.run("policy", "attach", "readwrite", "known")
    endpoint = c.serve()
    assert code(lambda: client(endpoint, "stranger", "whatever-secret").list_buckets()) == "InvalidAccessKeyId"
    assert code(lambda: client(endpoint, "known", "wrong-password").list_buckets()) == "SignatureDoesNotMatch"
    import urllib.request
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(endpoint + "/")
    assert e.value.code == 403


def test_presigned_urls_carry_their_users_rights_until_they_expire(cluster):
    """A URL presigned by a user works within its expiry and within that
    user's permissions only (boto3 presigns SigV4 query auth)."""
    import urllib.request
    import urllib.error
    c = cluster
    c.add_user("reader", "reader-password")
    c.run("policy", "attach", "readonly", "reader")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="docs")
    admin.put_object(Bucket="docs", Key="a", Body=b"shared text")
    # SigV4 query auth (boto3 presigns SigV2 unless told; SigV2 also signs
    # Content-Type, which urllib sets on a PUT).
    reader = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="reader",
                          aws_secret_access_key="reader-password", region_name="us-east-1",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def fetch(url, method="GET", body=None):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method)) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    get = reader.generate_presigned_url("get_object", Params={"Bucket": "docs", "Key": "a"}, ExpiresIn=60)
    assert fetch(get) == (200, b"shared text")
    put = reader.generate_presigned_url("put_object", Params={"Bucket": "docs", "Key": "b"}, ExpiresIn=60)
    status, body = fetch(put, "PUT", b"not allowed")
    assert status == 403 and b"AccessDenied" in body
    assert code(lambda: admin.head_object(Bucket="docs", Key="b")) == "NoSuchKey"
    short = reader.generate_presigned_url("get_object", Params={"Bucket": "docs", "Key": "a"}, ExpiresIn=1)
    time.sleep(2.1)
    status, body = fetch(short)
    assert status == 403 and b"expired" in body.lower()
    # A presigned URL of a user who is then deleted stops working.
    c.run("user", "delete", "reader")
    assert eventually(lambda: fetch(get)[0] == 403)


def test_sluice_presign_prints_a_url_of_the_users_rights(cluster):
    import urllib.request
    import urllib.error
    c = cluster
    c.add_user("viewer", "viewer-password")
    c.run("policy", "attach", "readonly", "viewer")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="media")
    admin.put_object(Bucket="media", Key="a b/c.txt", Body=b"presigned")
    url = c.run("presign", "s3://media/a b/c.txt", "--expires", "15m", "--user", "viewer",
                "--endpoint", endpoint).stdout.strip()
    assert url.startswith(endpoint + "/media/a%20b/c.txt?") and "X-Amz-Expires=900" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned"
    # The admin's by default; a user without read rights gets a URL that is refused.
    assert "Credential=admin" in c.run("presign", "s3://media/x", "--endpoint", endpoint).stdout
    c.add_user("nobody", "nobody-password")
    url = c.run("presign", "s3://media/a b/c.txt", "--user", "nobody", "--endpoint", endpoint).stdout.strip()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
    assert "7 days" in c.run("presign", "s3://media/x", "--expires", "8d", ok=False).stderr
    assert "s3://BUCKET/KEY" in c.run("presign", "media/x", ok=False).stderr


def test_tag_conditions(cluster, tmp_path):
    """s3:RequestObjectTag/<key>, s3:RequestObjectTagKeys (from
    x-amz-tagging) and s3:ExistingObjectTag/<key> (the object's tags, read
    only when a policy asks), as the S3 User Guide's tag-based access
    examples use them; tag keys keep their case."""
    c = cluster
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "arn:aws:s3:::teams/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/Team": "blue"},
                       "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["Team", "Owner"]}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::teams/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/Team": "blue"}}},
    ]}
    (tmp_path / "tags.json").write_text(json.dumps(policy))
    c.run("policy", "add", "blue-team", str(tmp_path / "tags.json"))
    c.add_user("blue", "blue-password")
    c.run("policy", "attach", "blue-team", "blue")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="teams")
    admin.put_object(Bucket="teams", Key="red-doc", Body=b"red", Tagging="Team=red")
    admin.put_object(Bucket="teams", Key="untagged", Body=b"none")
    s3 = client(endpoint, "blue", "blue-password")
    assert code(lambda: s3.put_object(Bucket="teams", Key="mine", Body=b"b", Tagging="Team=blue")) == "ok"
    assert code(lambda: s3.put_object(Bucket="teams", Key="x", Body=b"b", Tagging="Team=blue&Owner=ana")) == "ok"
    assert code(lambda: s3.put_object(Bucket="teams", Key="x", Body=b"b", Tagging="team=blue")) == "AccessDenied"
    assert code(lambda: s3.put_object(Bucket="teams", Key="x", Body=b"b", Tagging="Team=red")) == "AccessDenied"
    assert code(lambda: s3.put_object(Bucket="teams", Key="x", Body=b"b", Tagging="Team=blue&Cost=1")) == \
        "AccessDenied"
    assert code(lambda: s3.put_object(Bucket="teams", Key="x", Body=b"b")) == "AccessDenied"
    assert s3.get_object(Bucket="teams", Key="mine")["Body"].read() == b"b"
    assert code(lambda: s3.get_object(Bucket="teams", Key="red-doc")) == "AccessDenied"
    assert code(lambda: s3.get_object(Bucket="teams", Key="untagged")) == "AccessDenied"
