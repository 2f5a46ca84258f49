"""Several hosts on one machine and haproxy in front of them: what the
cluster test (tests/compat/test_cluster_haproxy.py) and the scaling
benchmark (tools/cluster_bench.py) share.

Hosts are network namespaces joined to this one by veth pairs, each with
its own address, where this process may make them (root); loopback ports
otherwise. haproxy is Debian's (tools/apt.sh)."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time


def which(name):
    return shutil.which(name) or next((p for d in ("/usr/sbin", "/sbin") if os.access(p := f"{d}/{name}", os.X_OK)),
                                      None)


HAPROXY = which("haproxy")
IP = which("ip")
BINDFS = which("bindfs")

def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=30)


class Hosts:
    """`n` hosts: network namespaces joined to this one by veth pairs, each
    with its own address; or, where they cannot be made, loopback."""

    made = 0

    def __init__(self, n):
        self.netns, self.addrs, self.loopback_because = [], [], None
        # Loopback: a port per node, kept across restarts (the balancer's
        # configuration names it).
        self.ports = [free_port() for _ in range(n)]
        if os.geteuid() != 0 or IP is None:
            self.loopback_because = "network namespaces need root and iproute2"
            return
        Hosts.made += 1
        tag = f"s{os.getpid() % 100000}{Hosts.made}"
        third = ((os.getpid() + Hosts.made * 7) % 80) * 3
        try:
            for i in range(n):
                ns, here, there = f"{tag}n{i}", f"{tag}h{i}", f"{tag}p{i}"
                run(IP, "netns", "add", ns)
                self.netns.append(ns)
                run(IP, "link", "add", here, "type", "veth", "peer", "name", there, "netns", ns)
                run(IP, "addr", "add", f"10.237.{third + i}.1/24", "dev", here)
                run(IP, "link", "set", here, "up")
                run(IP, "-n", ns, "addr", "add", f"10.237.{third + i}.2/24", "dev", there)
                run(IP, "-n", ns, "link", "set", there, "up")
                run(IP, "-n", ns, "link", "set", "lo", "up")
                self.addrs.append(f"10.237.{third + i}.2")
        except subprocess.CalledProcessError as e:
            self.close()
            self.netns, self.addrs = [], []
            self.loopback_because = f"ip netns failed: {e.stderr.strip()}"

    def prefix(self, i):
        return (IP, "netns", "exec", self.netns[i]) if self.netns else ()

    def listen(self, i):
        return f"{self.addrs[i]}:9000" if self.netns else f"127.0.0.1:{self.ports[i]}"

    def close(self):
        for ns in self.netns:
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=30)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Balancer:
    """haproxy balancing round robin over the nodes that pass `GET
    /minio/health/ready` (every 300 ms, down after two failures, up after
    two successes): each request in `http` mode, each connection in `tcp`
    mode (what docs/DEPLOY.md configures, TLS passing through)."""

    def __init__(self, backends, mode="http", threads=1, send_proxy=False):
        self.dir = tempfile.mkdtemp(prefix="hap")
        self.sock = os.path.join(self.dir, "stats.sock")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # send-proxy-v2: each connection opens with a PROXY header naming the
        # client (the nodes need --proxy-protocol-from), health checks too.
        proxy = " send-proxy-v2 check-send-proxy" if send_proxy else ""
        servers = "\n".join(f"    server {name} {addr}{proxy}" for name, addr in backends)
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
    maxconn 4096
    nbthread {threads}
    stats socket {self.sock} mode 600 level admin
defaults
    mode {mode}
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
{"    option splice-auto" if mode == "tcp" else ""}
frontend s3
    bind 127.0.0.1:{self.port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /minio/health/ready
    http-check expect status 200
    default-server check inter 300ms fall 2 rise 2
{servers}
""")
        self.proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.log = []
        threading.Thread(target=lambda: [self.log.append(line) for line in self.proc.stdout], daemon=True).start()
        deadline = time.time() + 20
        names = {name for name, _ in backends}
        while time.time() < deadline:
            try:
                if {n for n, s in self.stat().items() if s["status"] == "UP"} == names:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("haproxy did not see every node up:\n" + "".join(self.log))

    def stat(self):
        """Per server: status (UP, DOWN...) and sessions sent to it."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        cols = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(cols, line.split(",")))
            if row.get("pxname") == "nodes" and row.get("svname") not in ("BACKEND", None):
                out[row["svname"]] = {"status": row["status"].split()[0], "stot": int(row["stot"] or 0)}
        return out

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
