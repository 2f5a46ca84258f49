"""Failed authentications are counted per source address, and a burst from
one address is slowed down (issue 14): past --auth-failure-limit failures
within --auth-failure-window, its signed requests are answered 503
SlowDown without being verified, until the window ends. Before, a client
could try secrets as fast as the server answered."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import make_client, start_sluice, stop_sluice


@pytest.fixture
def throttled(tmp_path):
    # One thread: the count is per thread.
    info = start_sluice(tmp_path / "root", "--cores", "0", "--auth-failure-limit", "5",
                        "--auth-failure-window", "2")
    yield info
    stop_sluice(info)


def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"


def test_a_burst_of_failed_authentications_is_slowed_down(throttled):
    good = make_client(throttled)
    wrong = make_client(dict(throttled, secret="not-the-secret"))
    stranger = make_client(dict(throttled, access="NOSUCHKEY"))
    # Successful requests never count.
    for _ in range(30):
        assert code(lambda: good.list_buckets()) == "ok"
    for i in range(5):
        bad = wrong if i % 2 else stranger
        assert code(lambda: bad.list_buckets()) in ("SignatureDoesNotMatch", "InvalidAccessKeyId")
    # Past the limit, even the right secret waits: nothing is verified.
    assert code(lambda: wrong.list_buckets()) == "SlowDown"
    assert code(lambda: good.list_buckets()) == "SlowDown"
    time.sleep(2.2)
    assert code(lambda: good.list_buckets()) == "ok"
    assert code(lambda: wrong.list_buckets()) == "SignatureDoesNotMatch"
