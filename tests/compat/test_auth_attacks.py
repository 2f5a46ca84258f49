"""Authentication and authorization attacks (issue 18): each is refused
with the code S3 answers, changes nothing, and is counted in the metrics
(`sluice_request_errors_total{code=...}` goes up by exactly one for it,
and no other error count moves).

The attacks: every malformed shape of the Authorization header and of a
presigned URL's parameters; a request replayed more than 15 minutes after
it was signed (and one dated 16 minutes ahead); a presigned URL altered in
each of its fields, its path, its method, an added parameter; `x-amz-*`
headers added after signing; a body swapped after signing (plain and
aws-chunked); session tokens after their expiry and after their user was
deleted; anonymous requests to a private bucket; policy edge cases: a Deny
with action and resource wildcards, NotAction, NotResource, and conditions
whose key the request does not carry (a negated operator then holds, a
plain one does not, `...IfExists` holds)."""

import hashlib
import hmac
import json
import re
import time
import urllib.parse
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_bucket_policy import anonymous
from test_iam import client, cluster, code, eventually  # noqa: F401
from test_integrity import code_of, exchange, presigned_head, send_swapped, set_length
from test_observability import free_port, scrape
from test_sts import assume_role, expire_session, temp_client
from test_wire import signed_head

BUCKET = "vault"
ERRORS = "sluice_request_errors_total"


class Target:
    """The server under attack, its metrics and a user's credentials."""

    def __init__(self, c):
        self.c = c
        self.port = free_port()
        self.endpoint = c.serve("--metrics-listen", f"127.0.0.1:{self.port}",
                                "--auth-failure-limit", "1000000")
        self.admin = client(self.endpoint, *c.admin)
        self.admin.create_bucket(Bucket=BUCKET)
        self.admin.put_object(Bucket=BUCKET, Key="doc", Body=b"the document")
        c.add_user("alice", "alice-password")
        c.run("policy", "attach", "readwrite", "alice")
        self.alice = {"endpoint": self.endpoint, "access": "alice", "secret": "alice-password"}
        assert eventually(lambda: code(lambda: client(self.endpoint, "alice", "alice-password")
                                       .head_object(Bucket=BUCKET, Key="doc")) == "ok")

    def errors(self):
        return {dict(labels)["code"]: v for (name, labels), v in scrape(self.port).items() if name == ERRORS}

    def refused(self, expect, attack, what=""):
        """Runs `attack` (returning status and body, or a code), which must
        be answered `expect` (status, code); the code's count must go up by
        exactly one, no other count move."""
        before = self.errors()
        got = attack()
        if isinstance(got, tuple):
            status, body = got
            got = (status, code_of(body) if body else {403: "AccessDenied", 404: "NoSuchKey"}.get(status))
        assert got == expect, (what, got, expect)
        code_ = expect[1] if isinstance(expect, tuple) else expect
        deadline = time.monotonic() + 2
        while True:
            after = self.errors()
            moved = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
            moved = {k: v for k, v in moved.items() if v}
            if moved == {code_: 1} or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert moved == {code_: 1}, (what, expect, moved)


@pytest.fixture
def target(cluster):
    return Target(cluster)


def doc_head(t, **extra):
    return signed_head(t.alice, "GET", f"/{BUCKET}/doc", extra=extra or None)


def with_auth(head, value):
    """`head` with its Authorization header replaced by `value`."""
    return re.sub(rb"\r\nAuthorization: [^\r]*", b"\r\nAuthorization: " + value.encode(), head)


def auth_of(head):
    return re.search(rb"\r\nAuthorization: ([^\r]*)", head).group(1).decode()


def test_malformed_authorization_headers(target):
    t = target
    head = doc_head(t)
    good = auth_of(head)
    cred = re.search(r"Credential=([^,]*)", good).group(1)
    signed = re.search(r"SignedHeaders=([^,]*)", good).group(1)
    sig = re.search(r"Signature=(\w+)", good).group(1)
    ak, date, region, service, term = cred.split("/")
    malformed = (400, "AuthorizationHeaderMalformed")
    shapes = {
        "algorithm alone": ("AWS4-HMAC-SHA256", malformed),
        "no Credential": (f"AWS4-HMAC-SHA256 SignedHeaders={signed}, Signature={sig}", malformed),
        "no SignedHeaders": (f"AWS4-HMAC-SHA256 Credential={cred}, Signature={sig}", malformed),
        "no Signature": (f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}", malformed),
        "Credential twice": (f"AWS4-HMAC-SHA256 Credential={cred}, Credential={cred}, "
                             f"SignedHeaders={signed}, Signature={sig}", malformed),
        "scope of four parts": (f"AWS4-HMAC-SHA256 Credential={ak}/{date}/{region}/{service}, "
                                f"SignedHeaders={signed}, Signature={sig}", malformed),
        "another service": (f"AWS4-HMAC-SHA256 Credential={ak}/{date}/{region}/iam/{term}, "
                            f"SignedHeaders={signed}, Signature={sig}", malformed),
        "another terminator": (f"AWS4-HMAC-SHA256 Credential={ak}/{date}/{region}/{service}/aws4_reques, "
                               f"SignedHeaders={signed}, Signature={sig}", malformed),
        "scope date not the request's": (f"AWS4-HMAC-SHA256 Credential={ak}/20200101/{region}/{service}/{term}, "
                                         f"SignedHeaders={signed}, Signature={sig}", malformed),
        "host not signed": (f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=x-amz-date, Signature={sig}",
                            (403, "AccessDenied")),  # HeadersNotSigned: host, as S3
        "signature not hex": (f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, "
                              f"Signature={'z' * 64}", malformed),
        "signature short": (f"AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature={sig[:-2]}",
                            malformed),
        "one bit of the signature": (good[:-1] + ("0" if good[-1] != "0" else "1"), (403, "SignatureDoesNotMatch")),
        "unknown key": (good.replace(f"Credential={ak}/", "Credential=mallory/"), (403, "InvalidAccessKeyId")),
        "SigV4a": (good.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), (400, "InvalidRequest")),
        "empty": ("", malformed),
    }
    for name, (value, expect) in shapes.items():
        t.refused(expect, lambda: exchange(t.alice, with_auth(head, value)), name)
    # No date at all (X-Amz-Date removed, no Date): AccessDenied, as S3.
    undated = re.sub(rb"\r\nX-Amz-Date: [^\r]*", b"", head)
    t.refused((403, "AccessDenied"), lambda: exchange(t.alice, undated), "undated")


def old_head(t, offset):
    """A GET of the document signed `offset` seconds from now: what a
    replay of a request captured then sends."""
    import datetime
    import botocore.auth
    at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(seconds=offset)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: at):
        return doc_head(t)


def test_replays_and_requests_from_the_future(target):
    t = target
    # Within 15 minutes: served (the same bytes a replay a minute later sends).
    assert exchange(t.alice, old_head(t, -60))[0] == 200
    for offset in (-16 * 60, 16 * 60, -24 * 3600):
        head = old_head(t, offset)
        t.refused((403, "RequestTimeTooSkewed"), lambda: exchange(t.alice, head))


def presign(t, method="GET", key="doc", expires=300, params=None):
    req = AWSRequest(method=method, url=f"{t.endpoint}/{BUCKET}/{key}", params=params or {})
    S3SigV4QueryAuth(Credentials(t.alice["access"], t.alice["secret"]), "s3", "us-east-1",
                     expires=expires).add_auth(req)
    return req.url[len(t.endpoint):]


def raw_get(t, target, method="GET"):
    host = t.endpoint[len("http://"):]
    return exchange(t.alice, f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())


def altered(url, name, value):
    """`url` with the query parameter `name` set to `value` (None: removed)."""
    path, _, query = url.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    out = [(k, value if k == name else v) for k, v in pairs if not (k == name and value is None)]
    if value is not None and name not in dict(pairs):
        out.append((name, value))
    return path + "?" + urllib.parse.urlencode(out, quote_via=urllib.parse.quote, safe="-_.~")


def test_presigned_urls_altered_in_each_field(target):
    t = target
    url = presign(t)
    assert raw_get(t, url)[0] == 200
    q = dict(urllib.parse.parse_qsl(url.partition("?")[2]))
    ak, date, region, service, term = q["X-Amz-Credential"].split("/")
    mismatch = (403, "SignatureDoesNotMatch")
    bad_query = (400, "AuthorizationQueryParametersError")
    cases = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA512", (400, "InvalidRequest")),
        ("X-Amz-Algorithm", None, bad_query),
        ("X-Amz-Credential", f"admin/{date}/{region}/{service}/{term}", mismatch),
        ("X-Amz-Credential", f"mallory/{date}/{region}/{service}/{term}", (403, "InvalidAccessKeyId")),
        ("X-Amz-Credential", f"{ak}/{date}/eu-west-1/{service}/{term}", mismatch),
        ("X-Amz-Credential", f"{ak}/{date}/{region}/{service}", bad_query),
        ("X-Amz-Credential", None, bad_query),
        ("X-Amz-Date", q["X-Amz-Date"][:-3] + "00Z" if not q["X-Amz-Date"].endswith("00Z") else
         q["X-Amz-Date"][:-3] + "01Z", mismatch),
        ("X-Amz-Date", "yesterday", bad_query),
        ("X-Amz-Expires", "3600", mismatch),
        ("X-Amz-Expires", "604801", bad_query),
        ("X-Amz-Expires", "-1", bad_query),
        ("X-Amz-SignedHeaders", "host;x-amz-date", mismatch),
        ("X-Amz-SignedHeaders", "x-amz-date", (403, "AccessDenied")),  # HeadersNotSigned: host
        ("X-Amz-SignedHeaders", None, bad_query),
        ("X-Amz-Signature", q["X-Amz-Signature"][:-1] + ("0" if q["X-Amz-Signature"][-1] != "0" else "1"), mismatch),
        ("X-Amz-Signature", None, bad_query),
        ("X-Amz-Security-Token", "forged-token", (400, "InvalidToken")),
        ("response-content-type", "text/html", mismatch),
    ]
    for name, value, expect in cases:
        bad = altered(url, name, value)
        t.refused(expect, lambda: raw_get(t, bad), (name, value))
    # The path, and the method.
    t.refused(mismatch, lambda: raw_get(t, url.replace("/doc?", "/other?")))
    t.refused(mismatch, lambda: raw_get(t, url, method="DELETE"))
    assert t.admin.get_object(Bucket=BUCKET, Key="doc")["Body"].read() == b"the document"
    # Expired.
    short = presign(t, expires=1)
    time.sleep(2.1)
    t.refused((403, "AccessDenied"), lambda: raw_get(t, short))


def test_unsigned_amz_headers_and_swapped_bodies_change_nothing(target):
    t = target
    # Header auth: an x-amz-* header added after signing.
    head = signed_head(t.alice, "PUT", f"/{BUCKET}/doc", body=b"mine")
    evil = head[:-2] + b"x-amz-copy-source: /vault/doc\r\n\r\n"
    t.refused((403, "AccessDenied"), lambda: exchange(t.alice, evil + b"mine"))
    # Presigned PUT with an unsigned x-amz-tagging.
    pre = presigned_head(t.alice, "PUT", f"/{BUCKET}/doc", 4, unsigned={"x-amz-tagging": "a=b"})
    t.refused((403, "AccessDenied"), lambda: exchange(t.alice, pre + b"mine"))
    # The body swapped after signing.
    t.refused((400, "XAmzContentSHA256Mismatch"),
              lambda: send_swapped(t.alice, "PUT", f"/{BUCKET}/doc", b"signed body", b"other body!"))
    # aws-chunked: a chunk whose bytes were swapped, keeping its signature.
    for tamper in ("data", "signature"):
        t.refused((403, "SignatureDoesNotMatch"), lambda: exchange(t.alice, chunked_put(t, tamper)))
    assert t.admin.get_object(Bucket=BUCKET, Key="doc")["Body"].read() == b"the document"
    # The untampered aws-chunked PUT is taken (the signer above is right).
    status, body = exchange(t.alice, chunked_put(t, None, key="chunked"))
    assert status == 200, body
    assert t.admin.get_object(Bucket=BUCKET, Key="chunked")["Body"].read() == CHUNKS[0] + CHUNKS[1]


CHUNKS = [b"a" * 8192, b"b" * 100]


def chunked_put(t, tamper, key="doc"):
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT of CHUNKS, each chunk
    signed; `tamper` swaps the second chunk's bytes or its signature."""
    data = b"".join(CHUNKS)
    extra = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    with mock.patch.object(S3SigV4Auth, "payload", lambda self, r: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
        head = signed_head(t.alice, "PUT", f"/{BUCKET}/{key}", extra=extra)
    auth = auth_of(head)
    seed = re.search(r"Signature=(\w+)", auth).group(1)
    scope = re.search(r"Credential=[^/]+/([^,]+)", auth).group(1)
    amz_date = re.search(rb"X-Amz-Date: (\w+)", head).group(1).decode()
    day, region, service, _ = scope.split("/")
    key_ = ("AWS4" + t.alice["secret"]).encode()
    for part in (day, region, service, "aws4_request"):
        key_ = hmac.new(key_, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    body, prev = b"", seed
    for i, chunk in enumerate(CHUNKS + [b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty,
                             hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(key_, to_sign.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if i == 1 and tamper == "data":
            chunk = b"B" * len(chunk)
        if i == 1 and tamper == "signature":
            sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        body += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
    return set_length(head, len(body)) + body


def test_session_tokens_after_expiry_and_after_their_user(target):
    t = target
    c = t.c
    c.add_user("temp", "temp-password")
    c.run("policy", "attach", "readwrite", "temp")
    creds = assume_role(c, "temp", "15m")
    s = temp_client(t.endpoint, creds)
    assert eventually(lambda: code(lambda: s.head_object(Bucket=BUCKET, Key="doc")) == "ok")
    # A wrong token with the session's keys.
    t.refused("InvalidToken", lambda: code(lambda: temp_client(t.endpoint, creds, token="x" + creds["SessionToken"])
                                           .list_objects_v2(Bucket=BUCKET)))
    # Expired (the record says its time is over).
    expire_session(c, creds)
    assert eventually(lambda: code(lambda: s.list_objects_v2(Bucket=BUCKET)) == "ExpiredToken")
    t.refused("ExpiredToken", lambda: code(lambda: s.list_objects_v2(Bucket=BUCKET)))
    # A fresh session, then its user deleted.
    creds = assume_role(c, "temp", "15m")
    s = temp_client(t.endpoint, creds)
    assert eventually(lambda: code(lambda: s.list_objects_v2(Bucket=BUCKET)) == "ok")
    c.run("user", "delete", "temp")
    assert eventually(lambda: code(lambda: s.list_objects_v2(Bucket=BUCKET)) != "ok")
    t.refused("InvalidAccessKeyId", lambda: code(lambda: s.list_objects_v2(Bucket=BUCKET)))


def test_anonymous_requests_to_a_private_bucket(target):
    t = target
    for method, path, body in [("GET", f"/{BUCKET}/doc", None), ("GET", f"/{BUCKET}", None),
                               ("PUT", f"/{BUCKET}/new", b"x"), ("DELETE", f"/{BUCKET}/doc", None),
                               ("GET", f"/{BUCKET}?policy", None), ("PUT", f"/{BUCKET}?acl", b"")]:
        t.refused((403, "AccessDenied"), lambda: anonymous(t.endpoint, method, path, body))
    t.refused((403, "AccessDenied"), lambda: (anonymous(t.endpoint, "HEAD", f"/{BUCKET}/doc")[0], b""))
    assert t.admin.get_object(Bucket=BUCKET, Key="doc")["Body"].read() == b"the document"
    assert "Contents" not in t.admin.list_objects_v2(Bucket=BUCKET, Prefix="new")


def test_policy_edge_cases(target, tmp_path):
    t = target
    c = t.c
    c.add_user("bob", "bob-password")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::*"]},
        # A Deny with wildcards in the action and the resource.
        {"Effect": "Deny", "Action": "s3:Put*", "Resource": f"arn:aws:s3:::{BUCKET}/secret*"},
        # NotAction: everything but reads is denied under ro/.
        {"Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*"], "Resource": f"arn:aws:s3:::{BUCKET}/ro/*"},
        # NotResource: deletes are denied everywhere but under scratch/.
        {"Effect": "Deny", "Action": "s3:DeleteObject", "NotResource": f"arn:aws:s3:::{BUCKET}/scratch/*"},
        # A negated operator on a key the request lacks holds: a PUT under
        # enc/ without the encryption header is denied.
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/enc/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
        # A plain operator on a missing key does not hold: this Deny never
        # applies to a request without a Referer.
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*",
         "Condition": {"StringEquals": {"aws:Referer": "evil.example"}}},
        # ...IfExists holds when the key is missing: GETs under tls/ over
        # plain HTTP are denied (aws:SecureTransport is present, false).
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/tls/*",
         "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}}},
    ]}
    f = tmp_path / "edge.json"
    f.write_text(json.dumps(policy))
    c.run("policy", "add", "edge", str(f))
    c.run("policy", "attach", "edge", "bob")
    b = client(t.endpoint, "bob", "bob-password")
    assert eventually(lambda: code(lambda: b.put_object(Bucket=BUCKET, Key="open", Body=b"1")) == "ok")
    for key in ("scratch/x", "ro/x", "tls/x"):
        t.admin.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    denied = "AccessDenied"
    for attack in [
        lambda: b.put_object(Bucket=BUCKET, Key="secret", Body=b"1"),
        lambda: b.put_object(Bucket=BUCKET, Key="secrets/deep/x", Body=b"1"),
        lambda: b.create_multipart_upload(Bucket=BUCKET, Key="secret-mpu"),
        lambda: b.put_object(Bucket=BUCKET, Key="ro/x", Body=b"1"),
        lambda: b.delete_object(Bucket=BUCKET, Key="ro/x"),
        lambda: b.delete_object(Bucket=BUCKET, Key="open"),
        lambda: b.put_object(Bucket=BUCKET, Key="enc/x", Body=b"1"),
        lambda: b.get_object(Bucket=BUCKET, Key="tls/x"),
    ]:
        t.refused(denied, lambda: code(attack))
    # What the policy allows still works (the Denies are not too wide).
    assert code(lambda: b.put_object(Bucket=BUCKET, Key="secre", Body=b"1")) == "ok"
    assert code(lambda: b.get_object(Bucket=BUCKET, Key="ro/x")) == "ok"
    assert code(lambda: b.delete_object(Bucket=BUCKET, Key="scratch/x")) == "ok"
    assert code(lambda: b.put_object(Bucket=BUCKET, Key="enc/y", Body=b"1", ServerSideEncryption="AES256")) == "ok"
    assert code(lambda: b.get_object(Bucket=BUCKET, Key="doc")) == "ok"
    for key in ("secret", "secrets/deep/x", "enc/x"):
        assert code(lambda: t.admin.head_object(Bucket=BUCKET, Key=key)) == "NoSuchKey", key
    assert t.admin.get_object(Bucket=BUCKET, Key="ro/x")["Body"].read() == b"x"
    assert code(lambda: t.admin.head_object(Bucket=BUCKET, Key="open")) == "ok"
