"""The nodes of a cluster (issue 17, first part): `cluster create
--servers HOST,...` limits which hosts serve it; each `sluice serve` of a
cluster writes a heartbeat into the config directory; `sluice cluster
show` lists the nodes serving now (address, version, uptime, cores, NUMA
node) and those gone; `sluice cluster remove-server` forgets a gone node
and refuses a serving one (it stops nothing)."""

import re
import time

from test_iam import cluster  # noqa: F401  (the fixture)


def test_cluster_show_lists_serving_nodes_and_remove_server_forgets_gone_ones(cluster):
    c = cluster
    a = c.serve("--node-name", "alpha")
    b = c.serve("--node-name", "beta", tls=True)
    out = c.run("cluster", "show").stdout
    assert "nodes: 2 serving" in out, out
    alpha = next(line for line in out.splitlines() if line.strip().startswith("alpha "))
    assert f" serving {a} " in alpha and " version " in alpha and " cores " in alpha and " numa " in alpha
    beta = next(line for line in out.splitlines() if line.strip().startswith("beta "))
    assert f" serving {b} " in beta and b.startswith("https://")
    r = c.run("cluster", "remove-server", "beta", ok=False)
    assert "serving now" in r.stderr
    # Stop beta: after ten seconds without a heartbeat it is gone.
    proc = c.servers.pop()
    proc.terminate()
    proc.wait(timeout=10)
    time.sleep(12)
    out = c.run("cluster", "show").stdout
    assert "nodes: 1 serving" in out, out
    assert re.search(r"beta gone \(last heard \d+ s ago\)", out), out
    c.run("cluster", "remove-server", "beta")
    out = c.run("cluster", "show").stdout
    assert "beta" not in out and "alpha serving" in out
    c.run("cluster", "remove-server", "nobody", ok=False)


def test_a_cluster_made_for_named_servers_is_served_by_them_only(tmp_path):
    from test_iam import Cluster
    host = open("/proc/sys/kernel/hostname").read().strip()
    for servers, serves in ((f"other-host,{host}", True), ("other-host", False)):
        c = Cluster(tmp_path / servers.replace(",", "_"))
        c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config), "--servers", servers)
        assert f"servers: {servers}" in c.run("cluster", "show").stdout
        try:
            if serves:
                assert c.serve().startswith("http://")
            else:
                try:
                    c.serve()
                    raise AssertionError("a host not among --servers served the cluster")
                except RuntimeError as e:
                    assert "not one of the cluster's servers" in str(e)
        finally:
            c.stop()
    c = Cluster(tmp_path / "bad")
    r = c.run("cluster", "create", "--root", str(c.root), "--config-dir", str(c.config), "--servers", "a b", ok=False)
    assert "host names" in r.stderr


def test_cluster_destroy_stops_nothing_and_deletes_no_data(cluster):
    c = cluster
    c.run("bucket", "create", "kept", "--encrypt")
    (c.root / "kept" / "file.txt").write_bytes(b"data stays")
    c.serve("--node-name", "busy")
    r = c.run("cluster", "destroy", "--yes", ok=False)
    assert "busy" in r.stderr and "stops nothing" in r.stderr
    c.stop()
    c.servers.clear()
    # The stopped node's heartbeat is still fresh for ten seconds: forget it.
    import time
    time.sleep(11)
    r = c.run("cluster", "destroy", ok=False)
    assert "--yes" in r.stderr
    out = c.run("cluster", "destroy", "--yes").stdout
    assert "destroyed" in out and "kept" in out
    assert (c.root / "kept" / "file.txt").read_bytes() == b"data stays"
    assert (c.config / "keys" / "master.json").exists()
    assert not (c.config / "cluster.json").exists() and not (c.config / "users").exists()
    c.run("cluster", "show", ok=False)
