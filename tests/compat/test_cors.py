"""Bucket CORS with boto3, and OPTIONS preflight over a raw request."""

import urllib.error
import urllib.request

import botocore
import pytest


def preflight(server, bucket, origin, method, headers=None):
    req = urllib.request.Request(f"{server['endpoint']}/{bucket}/obj", method="OPTIONS")
    if origin:
        req.add_header("Origin", origin)
    if method:
        req.add_header("Access-Control-Request-Method", method)
    if headers:
        req.add_header("Access-Control-Request-Headers", headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_cors_configuration_and_preflight(server, s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    assert preflight(server, bucket, "https://app.example.com", "PUT")[0] == 403
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*", "content-type"],
         "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]})
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rules[0]["AllowedMethods"] == ["GET", "PUT"] and rules[0]["MaxAgeSeconds"] == 600
    status, headers = preflight(server, bucket, "https://app.example.com", "PUT", "x-amz-date, Content-Type")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "x-amz-date, content-type"
    assert headers["Access-Control-Max-Age"] == "600"
    assert headers["Access-Control-Expose-Headers"] == "ETag"
    status, headers = preflight(server, bucket, "https://other.org", "GET")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert preflight(server, bucket, "https://other.org", "DELETE")[0] == 403
    assert preflight(server, bucket, "https://app.example.com", "PUT", "authorization-x")[0] == 403
    assert preflight(server, bucket, None, "GET")[0] == 400
    # An actual request with Origin gets the CORS headers of the rule that allows it.
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    def add_origin(request, **kwargs):
        request.headers.add_header("Origin", "https://app.example.com")

    s3.meta.events.register_first("before-sign.s3.GetObject", add_origin)
    try:
        got = s3.get_object(Bucket=bucket, Key="obj")
    finally:
        s3.meta.events.unregister("before-sign.s3.GetObject", add_origin)
    assert got["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == "https://app.example.com"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=bucket)
    assert preflight(server, bucket, "https://other.org", "GET")[0] == 403
