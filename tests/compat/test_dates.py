"""Issue 13: the date forms HTTP allows, in a SigV4 `Date` header and in
If-Modified-Since / If-Unmodified-Since, read by one parser."""

import calendar
import time
import datetime
import email.utils

import pytest
from botocore.auth import S3SigV4Auth, SIGV4_TIMESTAMP
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_wire import connect, read_response, signed_head

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def imf_fixdate(t):
    return email.utils.formatdate(t, usegmt=True)


def rfc850(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return f"{WEEKDAYS[d.weekday()]}, {d:%d-%b-%y %H:%M:%S} GMT"


def asctime(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return f"{d:%a %b} {d.day:2} {d:%H:%M:%S %Y}"


def plus_0100(t):
    """The local time of a client one hour east of UTC, as an email-style
    formatter writes it."""
    zone = datetime.timezone(datetime.timedelta(hours=1))
    return email.utils.format_datetime(datetime.datetime.fromtimestamp(t, zone))


class DateHeaderSigV4Auth(S3SigV4Auth):
    """botocore's SigV4 with `Date` written by `form` from the signing time
    (botocore itself writes `formatdate(t)`, the `-0000` form)."""

    def __init__(self, creds, form):
        super().__init__(creds, "s3", "us-east-1")
        self.form = form

    def _set_necessary_date_headers(self, request):
        super()._set_necessary_date_headers(request)
        ts = datetime.datetime.strptime(request.context["timestamp"], SIGV4_TIMESTAMP)
        del request.headers["Date"]
        request.headers["Date"] = self.form(calendar.timegm(ts.timetuple()))


def date_signed_head(server, path, form=None):
    """A GET head signed by botocore's SigV4 with a `Date` header and no
    `X-Amz-Date`; `form` None keeps botocore's own Date."""
    creds = Credentials(server["access"], server["secret"])
    req = AWSRequest(method="GET", url=server["endpoint"] + path, headers={"Date": "placeholder"})
    auth = S3SigV4Auth(creds, "s3", "us-east-1") if form is None else DateHeaderSigV4Auth(creds, form)
    auth.add_auth(req)
    assert "X-Amz-Date" not in req.headers
    host = server["endpoint"][len("http://"):]
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), req.headers["Date"]


def get(server, head):
    with connect(server) as sock:
        sock.sendall(head)
        status, headers, body, _ = read_response(sock)
    return status, headers, body


def test_issue_13_botocore_sigv4_with_a_minus_0000_date_header_is_accepted(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"dated")
    head, date = date_signed_head(server, f"/{bucket}/k")
    assert date.endswith(" -0000"), date
    status, _, body = get(server, head)
    assert (status, body) == (200, b"dated"), (date, body)


@pytest.mark.parametrize("form", [plus_0100, rfc850, asctime], ids=["plus_0100", "rfc850", "asctime"])
def test_issue_13_sigv4_date_header_in_every_http_form_is_accepted(server, s3, bucket, form):
    s3.put_object(Bucket=bucket, Key="k", Body=b"dated")
    head, date = date_signed_head(server, f"/{bucket}/k", form)
    status, _, body = get(server, head)
    assert (status, body) == (200, b"dated"), (date, body)


def test_issue_13_a_zone_offset_is_applied_and_a_bad_date_refused(server, s3, bucket):
    """The UTC clock reading labelled +0100 is an hour in the past: skewed."""

    def utc_labelled_plus_0100(t):
        return imf_fixdate(t).replace(" GMT", " +0100")

    s3.put_object(Bucket=bucket, Key="k", Body=b"dated")
    head, date = date_signed_head(server, f"/{bucket}/k", utc_labelled_plus_0100)
    status, _, body = get(server, head)
    # Within an hour after midnight UTC the instant falls on the day
    # before, which the credential scope (signed with today's date) names
    # first: refused as a scope mismatch then, as skewed otherwise.
    shifted_day = time.strftime("%Y%m%d", time.gmtime(time.time() - 3600))
    expected = b"RequestTimeTooSkewed" if shifted_day == time.strftime("%Y%m%d", time.gmtime()) \
        else b"AuthorizationHeaderMalformed"
    assert status in (400, 403) and expected in body, (date, status, body)
    # And the same instant written with its real offset passes, so the
    # refusal above is the offset and nothing else.
    head, date = date_signed_head(server, f"/{bucket}/k", plus_0100)
    assert get(server, head)[0] == 200, date
    # A Date that does not parse is refused, as before.
    head, date = date_signed_head(server, f"/{bucket}/k", lambda t: imf_fixdate(t).replace(" GMT", " UTC"))
    status, _, body = get(server, head)
    assert status == 403 and b"AccessDenied" in body, (date, status, body)


@pytest.mark.parametrize("form", [rfc850, asctime], ids=["rfc850", "asctime"])
def test_issue_13_conditional_dates_in_obsolete_forms(server, s3, bucket, form):
    s3.put_object(Bucket=bucket, Key="k", Body=b"cond")
    modified = calendar.timegm(s3.head_object(Bucket=bucket, Key="k")["LastModified"].utctimetuple())
    path = f"/{bucket}/k"
    for write in (imf_fixdate, form):
        # Not modified since its own Last-Modified: 304, in each form.
        status, _, _ = get(server, signed_head(server, "GET", path, extra={"If-Modified-Since": write(modified)}))
        assert status == 304, write(modified)
        # Modified since an hour before: the object.
        earlier = write(modified - 3600)
        status, _, body = get(server, signed_head(server, "GET", path, extra={"If-Modified-Since": earlier}))
        assert (status, body) == (200, b"cond"), earlier
        # Unmodified since an hour before fails, since an hour after holds.
        status, _, _ = get(server, signed_head(server, "GET", path, extra={"If-Unmodified-Since": earlier}))
        assert status == 412, earlier
        later = write(modified + 3600)
        status, _, _ = get(server, signed_head(server, "GET", path, extra={"If-Unmodified-Since": later}))
        assert status == 200, later
    # A date that does not parse is ignored (RFC 9110 13.1.3, 13.1.4).
    for bad in ["yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 -0000"]:
        for name in ("If-Modified-Since", "If-Unmodified-Since"):
            status, _, body = get(server, signed_head(server, "GET", path, extra={name: bad}))
            assert (status, body) == (200, b"cond"), (name, bad)
