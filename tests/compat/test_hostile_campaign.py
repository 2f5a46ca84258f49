"""The hostile-load campaign of issue 18 (tools/hostile_load.py), short:
1,000 idle connections, kept-alive ones, slowloris heads and bodies,
clients that never read, pipelined floods, heads at and over the size
limit, clients that vanish mid-request and a burst of wrong signatures
from another address, all at once on one server thread; then connections
over the cap. Every verdict of the campaign must hold (the descriptors
and RSS come back, every hostile socket is closed at its timeout, slow
bodies are refused at the minimum rate, connections over the cap are
answered 503 SlowDown, the throttle answers the bad signatures, nothing
is left behind) but the latency ratio, which tests/compat/test_load.py
asserts on its own and which a busy machine blurs here; it is printed.
docs/RELIABILITY.md has the 10,000-connection run. A 10 s header
timeout leaves the phases room on a machine busy with other tests."""

import os
import subprocess
import sys

from conftest import ROOT


def test_hostile_load_campaign_short():
    binary = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "target", "debug", "sluice"))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "hostile_load.py"), "--idle", "1000",
                        "--header-timeout", "10", "--binary", binary, "--no-latency-verdict"],
                       capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "FAIL" not in r.stdout
