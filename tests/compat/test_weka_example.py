"""The s3.py example of WEKA's S3 guide (examples/s3.py) against sluice."""

import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "s3.py")


def test_weka_s3_py_example(server, tmp_path):
    (tmp_path / "myfile").write_text("Hello World!\n")
    env = dict(os.environ, SLUICE_ENDPOINT=server["endpoint"], AWS_ACCESS_KEY_ID=server["access"],
               AWS_SECRET_ACCESS_KEY=server["secret"])
    out = subprocess.run([sys.executable, EXAMPLE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr, out.stderr
    assert out.stdout.strip() == "Downloaded 'my_downloaded_object' as 'my_uploaded_object'. a"
    assert (tmp_path / "my_downloaded_object").read_text() == "Hello World!\n"
    with open(os.path.join(server["root"], "mybucket1", "my_uploaded_object")) as f:
        assert f.read() == "Hello World!\n", "the object is a plain file in the bucket directory"
