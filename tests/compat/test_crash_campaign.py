"""The crash campaign of issue 18 (tools/crash_campaign.py), short: the
server killed with SIGKILL at random moments under a load of PUTs,
overwrites, multipart uploads with re-uploaded parts, copies and deletes,
restarted each time; every acknowledged write reads back exact, nothing
partial is visible, no acknowledged delete comes back, and abandoned
uploads and temporaries go at the stale age. docs/RELIABILITY.md has the
100-kill runs."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("extra", [[], ["--encrypt"]], ids=["plain", "encrypted"])
def test_kills_lose_nothing(extra):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "crash_campaign.py"), "--kills", "8", *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no acknowledged write lost" in r.stdout
