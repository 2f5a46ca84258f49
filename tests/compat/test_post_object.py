"""POST Object: browser form uploads (issue 14). Before, a POST on a bucket
was NotImplemented. Sources: the S3 API reference of PostObject (fields,
`${filename}`, success_action_status 200/201/204 and the PostResponse
document, success_action_redirect's 303 with bucket, key and etag), the
S3 documentation "Browser-based uploads using POST" for SigV4 (the
x-amz-* fields, HMAC-SHA256 with the scope's signing key over the base64
policy) and for SigV2 (HMAC-SHA1 over the policy), "Creating a POST
policy" (expiration, exact matches, starts-with, content-length-range;
every field but x-amz-signature, file, policy and x-ignore-* must be named
by a condition), and botocore's generate_presigned_post as the client.
Every refused form leaves no object behind."""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import urllib.parse

import boto3
import urllib3
from botocore.config import Config

from test_iam import client, cluster, code, eventually  # noqa: F401  (the fixture)
from test_sts import sts_client


def post(endpoint, bucket, fields, file=None, raw=None, content_type=None, boundary=None, headers=None):
    """POSTs a form (fields in order, then the file) and returns status, headers, body."""
    if raw is None:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if file is not None:
            items.append(("file", file))
        raw, content_type = urllib3.encode_multipart_formdata(items, boundary=boundary)
    host = urllib.parse.urlsplit(endpoint).netloc
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("POST", f"/{bucket}", body=raw, headers={"Content-Type": content_type, **(headers or {})})
    r = conn.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    conn.close()
    return out


def error_code(body):
    text = body.decode()
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text


def b64(doc):
    return base64.b64encode(json.dumps(doc).encode()).decode()


def iso(delta):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sign_v4(access, secret, policy_b64, region="us-east-1"):
    """The SigV4 fields of a form, computed as the S3 documentation says."""
    now = datetime.datetime.now(datetime.timezone.utc)
    date, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": f"{access}/{date}/{region}/s3/aws4_request",
        "x-amz-date": stamp,
        "policy": policy_b64,
        "x-amz-signature": hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest(),
    }


def v4_policy(access, bucket, *conditions, expires_in=600):
    """A policy naming the SigV4 fields, with `conditions` added."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"expiration": iso(expires_in), "conditions": [
        {"bucket": bucket},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
        {"x-amz-credential": f"{access}/{now:%Y%m%d}/us-east-1/s3/aws4_request"},
        ["starts-with", "$x-amz-date", ""],
        *conditions]}


def signed_form(access, secret, bucket, key, *conditions, extra=None, expires_in=600):
    if not any(isinstance(c, list) and c[1] == "$key" for c in conditions):
        conditions = ({"key": key}, *conditions)
    fields = {"key": key, **(extra or {})}
    fields.update(sign_v4(access, secret, b64(v4_policy(access, bucket, *conditions, expires_in=expires_in))))
    return fields


def setup(cluster, policy="readwrite"):
    c = cluster
    c.add_user("web", "web-password-1", "--role", "s3")
    c.run("policy", "attach", policy, "web")
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    admin.create_bucket(Bucket="forms")
    return endpoint, admin


def test_a_boto3_presigned_post_uploads_the_file(cluster):
    endpoint, admin = setup(cluster)
    web = client(endpoint, "web", "web-password-1")
    form = web.generate_presigned_post(
        "forms", "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-note": "from a browser",
                "success_action_status": "201"},
        Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-note": "from a browser"},
                    {"success_action_status": "201"}, ["content-length-range", 1, 1 << 20]],
        ExpiresIn=600)
    data = os.urandom(100_000)
    status, headers, body = post(endpoint, "forms", form["fields"], ("hello.txt", data, "application/x-ignored"))
    assert status == 201, body
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    assert b"<Key>uploads/hello.txt</Key>" in body and b"<Bucket>forms</Bucket>" in body
    assert f"<ETag>{etag}</ETag>".replace('"', "&quot;").encode() in body or f"<ETag>{etag}</ETag>".encode() in body
    assert headers["ETag"] == etag
    got = admin.get_object(Bucket="forms", Key="uploads/hello.txt")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"note": "from a browser"}
    # Over POSIX, the same bytes.
    assert (cluster.root / "forms" / "uploads" / "hello.txt").read_bytes() == data


def test_a_large_file_full_of_near_boundaries_is_stored_exactly(cluster):
    endpoint, admin = setup(cluster)
    boundary = "sluiceFormBoundary42"
    # Pieces of the delimiter, at every alignment, across the server's buffers.
    piece = b"\r\n--" + boundary[:-1].encode() + b"\r\n-" + os.urandom(997)
    data = (piece * (9 * 1024 * 1024 // len(piece) + 1))[:9 * 1024 * 1024 + 7]
    fields = signed_form("web", "web-password-1", "forms", "big.bin")
    status, _, body = post(endpoint, "forms", fields, ("big.bin", data), boundary=boundary)
    assert status == 204, body
    got = admin.get_object(Bucket="forms", Key="big.bin")["Body"].read()
    assert len(got) == len(data) and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_forms_the_policy_does_not_allow_are_refused_and_write_nothing(cluster):
    endpoint, admin = setup(cluster)
    conditions = (["starts-with", "$key", "user/"], {"Content-Type": "image/png"}, ["content-length-range", 5, 50])
    good = signed_form("web", "web-password-1", "forms", "user/a.png", *conditions, extra={"Content-Type": "image/png"})
    cases = []
    cases.append(("file larger than the range", good, b"x" * 51, 400, "EntityTooLarge"))
    cases.append(("file smaller than the range", good, b"x" * 4, 400, "EntityTooSmall"))
    cases.append(("a field changed after signing", {**good, "Content-Type": "text/html"}, b"12345", 403, "AccessDenied"))
    cases.append(("a field no condition names", {**good, "x-amz-meta-evil": "1"}, b"12345", 403, "AccessDenied"))
    cases.append(("a key outside the prefix", {**good, "key": "admin/a.png"}, b"12345", 403, "AccessDenied"))
    tampered = dict(good)
    doc = json.loads(base64.b64decode(good["policy"]))
    doc["conditions"][-1] = ["content-length-range", 5, 1 << 30]
    tampered["policy"] = b64(doc)
    cases.append(("the policy changed after signing", tampered, b"12345", 403, "SignatureDoesNotMatch"))
    expired = signed_form("web", "web-password-1", "forms", "user/a.png", *conditions,
                          extra={"Content-Type": "image/png"}, expires_in=-5)
    cases.append(("an expired policy", expired, b"12345", 403, "AccessDenied"))
    wrong_secret = signed_form("web", "not-the-password", "forms", "user/a.png", *conditions,
                               extra={"Content-Type": "image/png"})
    cases.append(("a wrong secret", wrong_secret, b"12345", 403, "SignatureDoesNotMatch"))
    unknown = signed_form("nobody", "web-password-1", "forms", "user/a.png", *conditions,
                          extra={"Content-Type": "image/png"})
    cases.append(("an unknown key", unknown, b"12345", 403, "InvalidAccessKeyId"))
    no_key = {k: v for k, v in good.items() if k != "key"}
    cases.append(("no key field", no_key, b"12345", 400, "InvalidArgument"))
    unsigned_policy = {k: v for k, v in good.items() if k != "x-amz-signature"}
    cases.append(("a policy without a signature", unsigned_policy, b"12345", 400, "InvalidArgument"))
    broken = {**good, "policy": base64.b64encode(b"{not json").decode()}
    broken.update(sign_v4("web", "web-password-1", broken["policy"]))
    cases.append(("a policy that is not JSON", broken, b"12345", 400, "InvalidPolicyDocument"))
    for name, fields, data, want_status, want_code in cases:
        status, _, body = post(endpoint, "forms", fields, ("a.png", data))
        assert (status, error_code(body)) == (want_status, want_code), name
    assert admin.list_objects_v2(Bucket="forms").get("KeyCount") == 0
    # The good form itself is accepted.
    status, _, body = post(endpoint, "forms", good, ("a.png", b"12345"))
    assert status == 204, body
    assert admin.get_object(Bucket="forms", Key="user/a.png")["Body"].read() == b"12345"


def test_the_users_permissions_still_apply(cluster):
    """A valid form signed by a user who may not write the key is refused."""
    endpoint, admin = setup(cluster, policy="readonly")
    fields = signed_form("web", "web-password-1", "forms", "k")
    status, _, body = post(endpoint, "forms", fields, ("k", b"data"))
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert code(lambda: admin.head_object(Bucket="forms", Key="k")) == "NoSuchKey"


def test_malformed_forms_are_refused(cluster):
    endpoint, admin = setup(cluster)
    fields = signed_form("web", "web-password-1", "forms", "k")
    # Not a form at all.
    status, _, body = post(endpoint, "forms", None, raw=b"key=k", content_type="application/x-www-form-urlencoded")
    assert (status, error_code(body)) == (412, "PreconditionFailed")
    # No file.
    status, _, body = post(endpoint, "forms", fields)
    assert (status, error_code(body)) == (400, "IncorrectNumberOfFilesInPostRequest")
    # A body cut before its closing boundary publishes nothing.
    raw, ctype = urllib3.encode_multipart_formdata(list(fields.items()) + [("file", ("k", b"partial"))])
    status, _, body = post(endpoint, "forms", None, raw=raw[:-12], content_type=ctype)
    assert (status, error_code(body)) == (400, "MalformedPOSTRequest")
    # Fields repeated (a policy check and the write could read different ones).
    status, _, body = post(endpoint, "forms", list(fields.items()) + [("key", "other")], ("k", b"x"))
    assert (status, error_code(body)) == (400, "InvalidArgument")
    # Two files.
    status, _, body = post(endpoint, "forms", list(fields.items()) + [("file", ("a", b"1"))], ("b", b"2"))
    assert (status, error_code(body)) == (400, "IncorrectNumberOfFilesInPostRequest")
    assert admin.list_objects_v2(Bucket="forms").get("KeyCount") == 0
    # Fields after the file are ignored, as S3 ignores them.
    status, _, body = post(endpoint, "forms", list(fields.items()) + [("file", ("k", b"kept")), ("key", "ignored")])
    assert status == 204, body
    assert admin.get_object(Bucket="forms", Key="k")["Body"].read() == b"kept"
    assert code(lambda: admin.head_object(Bucket="forms", Key="ignored")) == "NoSuchKey"


def test_sigv2_forms_and_the_redirect(cluster):
    endpoint, admin = setup(cluster)
    policy = b64({"expiration": iso(600), "conditions": [
        {"bucket": "forms"}, ["starts-with", "$key", "v2/"],
        ["starts-with", "$success_action_redirect", "https://example.com/"]]})
    signature = base64.b64encode(hmac.new(b"web-password-1", policy.encode(), hashlib.sha1).digest()).decode()
    fields = {"key": "v2/${filename}", "AWSAccessKeyId": "web", "policy": policy, "signature": signature,
              "success_action_redirect": "https://example.com/done?x=1"}
    status, headers, body = post(endpoint, "forms", fields, ("photo one.jpg", b"jpeg bytes"))
    assert status == 303, body
    location = urllib.parse.urlsplit(headers["Location"])
    assert location.netloc == "example.com" and location.path == "/done"
    query = urllib.parse.parse_qs(location.query)
    assert query["x"] == ["1"] and query["bucket"] == ["forms"] and query["key"] == ["v2/photo one.jpg"]
    assert query["etag"] == ['"' + hashlib.md5(b"jpeg bytes").hexdigest() + '"']
    assert admin.get_object(Bucket="forms", Key="v2/photo one.jpg")["Body"].read() == b"jpeg bytes"
    # A wrong SigV2 signature is refused.
    bad = {**fields, "signature": base64.b64encode(b"x" * 20).decode()}
    status, _, body = post(endpoint, "forms", bad, ("other.jpg", b"x"))
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    assert code(lambda: admin.head_object(Bucket="forms", Key="v2/other.jpg")) == "NoSuchKey"


def test_anonymous_forms_need_a_bucket_policy(cluster):
    endpoint, admin = setup(cluster)
    status, _, body = post(endpoint, "forms", {"key": "anon.txt"}, ("anon.txt", b"hi"))
    assert (status, error_code(body)) == (403, "AccessDenied")
    cluster.run("bucket", "policy", "set", "forms", "upload")
    assert eventually(lambda: post(endpoint, "forms", {"key": "anon.txt", "success_action_status": "200"},
                                   ("anon.txt", b"hi"))[0] == 200)
    assert admin.get_object(Bucket="forms", Key="anon.txt")["Body"].read() == b"hi"
    # The bucket policy grants writes only: an anonymous form cannot
    # write elsewhere.
    admin.create_bucket(Bucket="private")
    status, _, body = post(endpoint, "private", {"key": "x"}, ("x", b"hi"))
    assert (status, error_code(body)) == (403, "AccessDenied")


def test_session_credentials_sign_forms_with_their_token(cluster):
    endpoint, admin = setup(cluster)
    creds = sts_client(endpoint, "web", "web-password-1").assume_role(
        RoleArn="arn:aws:iam::000000000000:role/any", RoleSessionName="forms", DurationSeconds=900)["Credentials"]
    temp = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    form = temp.generate_presigned_post("forms", "from-session", ExpiresIn=600)
    assert "x-amz-security-token" in form["fields"]
    status, _, body = post(endpoint, "forms", form["fields"], ("f", b"session data"))
    assert status == 204, body
    assert admin.get_object(Bucket="forms", Key="from-session")["Body"].read() == b"session data"
    # Without its token the session's key is not accepted.
    no_token = {k: v for k, v in form["fields"].items() if k != "x-amz-security-token"}
    status, _, body = post(endpoint, "forms", no_token, ("f", b"other"))
    assert status in (400, 403) and error_code(body) in ("InvalidToken", "AccessDenied", "InvalidAccessKeyId"), body


def test_a_refused_large_form_gets_its_answer_not_a_reset(cluster):
    """Browsers send the whole form without waiting for 100-continue. The
    refusal comes after the fields, while the file is still arriving;
    closing then with unread bytes reset the connection and the browser saw
    a network error instead of the S3 error (seen: ConnectionResetError).
    The server now reads and drops the rest (a lingering close)."""
    endpoint, admin = setup(cluster)
    data = os.urandom(16 << 20)
    status, _, body = post(endpoint, "forms", {"key": "too-big"}, ("f", data))
    assert (status, error_code(body)) == (403, "AccessDenied")
    fields = signed_form("web", "web-password-1", "forms", "too-big", ["content-length-range", 0, 1024])
    status, _, body = post(endpoint, "forms", fields, ("f", data))
    assert (status, error_code(body)) == (400, "EntityTooLarge")
    assert code(lambda: admin.head_object(Bucket="forms", Key="too-big")) == "NoSuchKey"


def test_hostile_field_names_and_values_are_refused_before_anything_is_written(cluster):
    """Regressions from a hostile review. A field name with a multi-byte
    character panicked the request (a header prefix was compared by slicing
    the name at a byte count); values with CR, LF or NUL were stored and made
    every later GET of the object fail; names that are not header names were
    stored altered (`x-amz-meta-a:b` as `x-amz-meta-ab`)."""
    endpoint, admin = setup(cluster)
    cluster.run("bucket", "policy", "set", "forms", "upload")
    assert eventually(lambda: post(endpoint, "forms", {"key": "probe"}, ("f", b"x"))[0] == 204)
    for name, value in [("x-amz-meta-\u00e9", "v"), ("x-amz-meta-" + "a" * 26 + "\u00e9\u00e9", "v"),
                        ("x-amz-meta-a:b", "v"), ("x-amz-meta-a b", "v"),
                        ("x-amz-meta-n", "a\x00b"), ("Content-Disposition", "attachment\r\nSet-Cookie: s=1"),
                        ("Expires", "x\ry"), ("Content-Type", "text/plain\nX-Injected: 1")]:
        status, _, body = post(endpoint, "forms", [("key", "hostile"), (name, value)], ("f", b"x"))
        assert (status, error_code(body)) == (400, "InvalidArgument"), (name, value, body)
        assert code(lambda: admin.head_object(Bucket="forms", Key="hostile")) == "NoSuchKey"
    # A value with spaces around it is kept trimmed, as a header's would be.
    status, _, _ = post(endpoint, "forms", [("key", "trimmed"), ("x-amz-meta-class", " secret ")], ("f", b"x"))
    assert status == 204
    assert admin.head_object(Bucket="forms", Key="trimmed")["Metadata"] == {"class": "secret"}


def test_a_deny_on_metadata_sees_the_value_that_is_stored(cluster, tmp_path):
    """Regression: authorization saw `secret ` (with a space) while the store
    kept `secret`, so a Deny on s3:x-amz-meta-class escaped."""
    c = cluster
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
         "Condition": {"StringEquals": {"s3:x-amz-meta-class": "secret"}}}]}
    (tmp_path / "deny.json").write_text(json.dumps(deny))
    c.run("policy", "add", "no-secrets", str(tmp_path / "deny.json"))
    endpoint, admin = setup(c, policy="no-secrets")
    for value in ("secret", "secret ", "\tsecret"):
        fields = signed_form("web", "web-password-1", "forms", "doc", ["starts-with", "$x-amz-meta-class", ""],
                             extra={"x-amz-meta-class": value})
        status, _, body = post(endpoint, "forms", fields, ("f", b"x"))
        assert (status, error_code(body)) == (403, "AccessDenied"), repr(value)
    assert code(lambda: admin.head_object(Bucket="forms", Key="doc")) == "NoSuchKey"


def test_filename_is_the_base_name_and_conditions_see_it_expanded(cluster):
    """Regressions: the file's path was kept (`dir/sub/f.txt` chose
    sub-paths under the signed prefix), the backslashes of a Windows path
    were taken for escapes, and conditions were checked against the
    unexpanded template. S3: only the name after the last / or \\ is used,
    in every field, and conditions see the expanded values."""
    endpoint, admin = setup(cluster)
    fields = signed_form("web", "web-password-1", "forms", "up/${filename}", ["starts-with", "$key", "up/"],
                         ["starts-with", "$x-amz-meta-original", ""],
                         extra={"x-amz-meta-original": "${filename}"})
    for sent, stored in [("dir/sub/file.txt", "up/file.txt"), ("C:\\Users\\bob\\report.pdf", "up/report.pdf")]:
        status, _, body = post(endpoint, "forms", fields, (sent, b"x"))
        assert status == 204, body
        assert admin.head_object(Bucket="forms", Key=stored)["Metadata"] == {"original": stored[3:]}
    assert admin.list_objects_v2(Bucket="forms")["KeyCount"] == 2
    # An exact key condition on the template matches no expanded key.
    exact = signed_form("web", "web-password-1", "forms", "up/${filename}")
    status, _, body = post(endpoint, "forms", exact, ("any.txt", b"x"))
    assert (status, error_code(body)) == (403, "AccessDenied")


def test_redirects_that_cannot_be_followed_are_ignored_and_answers_are_well_formed(cluster):
    """Regressions: a redirect with CR/LF, or longer than a response head,
    stored the object and then closed the connection without an answer;
    201 and 303 went out as `201 Unknown`."""
    endpoint, admin = setup(cluster)
    for i, url in enumerate(["https://example.com/a\r\nSet-Cookie: x=1", "https://example.com/" + "a" * 9000]):
        fields = signed_form("web", "web-password-1", "forms", f"r{i}",
                             ["starts-with", "$success_action_redirect", "https://example.com/"],
                             extra={"success_action_redirect": url})
        status, headers, body = post(endpoint, "forms", fields, ("f", b"x"))
        assert status == 204 and "example.com" not in headers.get("Location", ""), (status, body)
        assert admin.head_object(Bucket="forms", Key=f"r{i}")["ContentLength"] == 1
    host = urllib.parse.urlsplit(endpoint).netloc
    for status_field, reason in (("201", "Created"), ("204", "No Content")):
        raw, ctype = urllib3.encode_multipart_formdata(
            list(signed_form("web", "web-password-1", "forms", "s", {"success_action_status": status_field},
                             extra={"success_action_status": status_field}).items()) + [("file", ("f", b"x"))])
        conn = http.client.HTTPConnection(host, timeout=30)
        conn.request("POST", "/forms", body=raw, headers={"Content-Type": ctype})
        r = conn.getresponse()
        assert (r.status, r.reason) == (int(status_field), reason)
        assert r.getheader("Location") == f"http://{host}/forms/s"
        conn.close()


def test_request_headers_outside_the_form_change_nothing(cluster):
    """A form is authenticated by its fields: x-amz-* headers on the
    request itself (which no policy or signature covers) must not reach
    the object, copy from elsewhere or set tags."""
    endpoint, admin = setup(cluster)
    admin.put_object(Bucket="forms", Key="secret", Body=b"not for the form")
    fields = signed_form("web", "web-password-1", "forms", "plain")
    status, _, body = post(endpoint, "forms", fields, ("f", b"the file"),
                           headers={"x-amz-meta-evil": "1", "x-amz-tagging": "a=b",
                                    "x-amz-copy-source": "/forms/secret", "Cache-Control": "max-age=1"})
    assert status == 204, body
    got = admin.get_object(Bucket="forms", Key="plain")
    assert got["Body"].read() == b"the file"
    assert got["Metadata"] == {} and "CacheControl" not in got
    assert admin.get_object_tagging(Bucket="forms", Key="plain")["TagSet"] == []


def test_two_forms_for_one_key_at_once_leave_exactly_one(cluster):
    import threading
    endpoint, admin = setup(cluster)
    datas = [os.urandom(3 << 20), os.urandom(3 << 20)]
    fields = signed_form("web", "web-password-1", "forms", "raced")
    statuses = []
    threads = [threading.Thread(target=lambda d=d: statuses.append(post(endpoint, "forms", fields, ("f", d))[0]))
               for d in datas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [204, 204]
    got = admin.get_object(Bucket="forms", Key="raced")["Body"].read()
    assert got in datas


def test_a_server_killed_in_the_middle_of_a_form_leaves_no_object(cluster):
    import signal
    c = cluster
    endpoint, admin = setup(c)
    fields = signed_form("web", "web-password-1", "forms", "half")
    raw, ctype = urllib3.encode_multipart_formdata(list(fields.items()) + [("file", ("f", os.urandom(16 << 20)))])
    host = urllib.parse.urlsplit(endpoint).netloc
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest("POST", "/forms")
    conn.putheader("Content-Type", ctype)
    conn.putheader("Content-Length", str(len(raw)))
    conn.endheaders()
    conn.send(raw[: len(raw) // 2])
    server = c.servers.pop()
    server.send_signal(signal.SIGKILL)
    server.wait()
    conn.close()
    endpoint = c.serve()
    admin = client(endpoint, *c.admin)
    assert code(lambda: admin.head_object(Bucket="forms", Key="half")) == "NoSuchKey"
    assert admin.list_objects_v2(Bucket="forms").get("KeyCount") == 0
