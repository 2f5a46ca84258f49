#!/usr/bin/env python3
"""The hostile-load campaign of issue 18: every kind of hostile client at
once against one `sluice serve` thread, while a normal boto3 client keeps
asking it; the figures docs/RELIABILITY.md quotes.

    cargo build --release -p sluice-server
    target/venv/bin/python tools/hostile_load.py [--idle 10000] [--binary target/release/sluice]

What is thrown at the server (one thread, `--cores` the first core this
process may use; this process and its threads run on the others):

- IDLE connections that never send a byte (10,000 by default);
- KEPT_ALIVE connections answered once, then idle in keep-alive;
- SLOW_HEADS slowloris heads: a real GET head, one byte every TRICKLE s;
- SLOW_BODIES slowloris bodies: a whole signed PUT head, then its 64 KiB
  body one byte every TRICKLE s (refused at the body's minimum rate);
- NEVER_READ clients that GET a 32 MiB object and never read (4 KiB
  receive buffers);
- PIPELINED connections that pipeline 4,000 GETs each and never read;
- a thread sending heads at the size limit (16 KiB, answered) and just
  over it (refused, connection closed), one after the other;
- a thread whose clients vanish mid-request: a PUT head and half its
  1 MiB body, then a reset (SO_LINGER 0);
- a thread sending a burst of requests with wrong signatures from another
  source address (127.0.0.2): the per-address throttle turns them into
  503 SlowDown after --auth-failure-limit, and does not touch 127.0.0.1;
- once everything is held, connections over the cap (`--max-connections`
  is set to what is held plus a margin): each must be answered 503
  SlowDown (or, past the few answered at once, closed).

Measured, as in tests/compat/test_load.py (its helpers are used): the
normal client's p99 over GETs of a 1 KiB object against an identical
control server on the same core that no hostile client touches, asked in
alternation (its p99 is the unloaded figure of the same moments; the
verdict is loaded p99 <= 2x unloaded p99); every answer to the normal
client a success; descriptors and RSS at the start, held and at the end
(back to the start figure, RSS within 10%), RSS per held connection; what
each hostile kind saw; the server's `sluice_connections_shed_total` and
`sluice_request_errors_total` from its metrics. Exit status 0 when every
verdict holds; `--json` prints the figures as one JSON object as well.
"""

import argparse
import hashlib
import json
import os
import resource
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

from conftest import make_client, start_sluice, stop_sluice  # noqa: E402
from test_load import (  # noqa: E402
    Client, cpu_seconds, fds, held_by_server, open_nonblocking, p99, read_whole,
    status_kib, wait_until,
)
from test_wire import addr, read_response, signed_head  # noqa: E402

import selectors  # noqa: E402

KEPT_ALIVE = 200
SLOW_HEADS = 100
SLOW_BODIES = 50
NEVER_READ = 20
PIPELINED = 10
PIPELINE_DEPTH = 4000
TRICKLE = 0.5
SLOW_BODY = 64 << 10
BIG = 32 << 20
SMALL = b"s" * 1024
HEAD_LIMIT = 16 * 1024  # sluice-http's DEFAULT_MAX_HEAD_BYTES
SAMPLES = 600
MIN_SAMPLES = 150
MAX_ANSWER = 2.0
BATCH = 250
OVER_CAP = 300  # connections opened past the cap
MARGIN = 40  # the cap: what is held plus this
SHED_WINDOW = 5.0  # seconds left before the first timeout for the shedding phase


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


class Trickler(threading.Thread):
    """Sends each registered socket its bytes one at a time every TRICKLE
    seconds (after a prefix sent at once), and records when the server
    closed it (EOF or reset) and whether an answer came first."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.socks = {}  # sock -> [kind, payload, sent, since]
        self.pending = []
        self.closed_at = {}
        self.answered = {}
        self.stop = threading.Event()

    def add(self, sock, kind, payload, since):
        with self.lock:
            self.socks[sock] = [kind, payload, 0, since]
            self.pending.append(sock)

    def open_count(self, kind=None):
        with self.lock:
            return sum(1 for s, v in self.socks.items()
                       if s not in self.closed_at and (kind is None or v[0] == kind))

    def _closed(self, sock):
        self.closed_at[sock] = time.monotonic()
        try:
            self.sel.unregister(sock)
        except KeyError:
            pass

    def run(self):
        next_byte = time.monotonic()
        while not self.stop.is_set():
            with self.lock:
                for s in self.pending:
                    self.sel.register(s, selectors.EVENT_READ)
                self.pending.clear()
            ready = self.sel.select(timeout=0.05)
            with self.lock:
                for key, _ in ready:
                    s = key.fileobj
                    try:
                        data = s.recv(65536)
                        if data == b"":
                            self._closed(s)
                        else:
                            self.answered.setdefault(s, data[:64])
                    except ConnectionResetError:
                        self._closed(s)
                    except BlockingIOError:
                        pass
                now = time.monotonic()
                if now < next_byte:
                    continue
                next_byte = now + TRICKLE
                for s, v in self.socks.items():
                    kind, payload, sent, _ = v
                    if s in self.closed_at or not payload or sent >= len(payload):
                        continue
                    try:
                        v[2] += s.send(payload[sent:sent + 1])
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError):
                        self._closed(s)


class Attacker(threading.Thread):
    """Runs `step()` until stopped, at most `rate` times a second, counting
    what each step returned."""

    def __init__(self, name, step, rate):
        super().__init__(daemon=True, name=name)
        self.step, self.rate = step, rate
        self.counts = {}
        self.stop = threading.Event()
        self.n = 0

    def run(self):
        start = time.monotonic()
        while not self.stop.is_set():
            try:
                what = self.step()
            except OSError as e:
                what = f"error:{type(e).__name__}"
            self.counts[what] = self.counts.get(what, 0) + 1
            self.n += 1
            ahead = start + self.n / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def answer_code(status, body):
    code = ""
    if b"<Code>" in body:
        code = body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode()
    return f"{status} {code}".strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", type=int, default=10000, help="connections that never send a byte")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "sluice"))
    ap.add_argument("--header-timeout", type=float, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-latency-verdict", action="store_true",
                    help="print the latency ratio without failing on it (a busy machine)")
    args = ap.parse_args()
    # The attackers are threads of this process: switch often, so that the
    # measuring thread waits little for the interpreter lock.
    sys.setswitchinterval(0.0005)
    header_timeout = int(args.header_timeout)
    send_timeout = header_timeout + 2
    idle_timeout = header_timeout + 4
    held_target = (args.idle + KEPT_ALIVE + SLOW_HEADS + SLOW_BODIES + NEVER_READ + PIPELINED)
    cap = held_target + MARGIN
    need = held_target + OVER_CAP + 2048
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {need} descriptors this campaign needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else need, hard))
    os.environ["SLUICE_BIN"] = args.binary
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_cores = cores[0], set(cores[1:]) or {cores[0]}
    metrics_port = free_port()
    flags = ["--cores", str(server_core), "--header-timeout", str(header_timeout),
             "--idle-timeout", str(idle_timeout), "--send-timeout", str(send_timeout),
             "--max-connections", str(cap)]
    work = tempfile.mkdtemp(prefix="sluice-hostile-")
    info = control = None
    trickler = None
    attackers = []
    socks = []
    verdicts = []
    fig = {"idle": args.idle, "cap": cap, "header_timeout": header_timeout}
    try:
        # The throttle at its default (20 failures a minute per address).
        info = start_sluice(os.path.join(work, "root"), *flags, "--auth-failure-limit", "20",
                            "--metrics-listen", f"127.0.0.1:{metrics_port}")
        control = start_sluice(os.path.join(work, "control"), *flags)
        os.sched_setaffinity(0, client_cores)
        pid = info["proc"].pid
        target = addr(info)
        bucket = "load"
        client = Client(info, control, bucket)
        for s3 in client.servers.values():
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="small", Body=SMALL)
        client.servers["loaded"].put_object(Bucket=bucket, Key="big", Body=b"b" * BIG)
        big_get = signed_head(info, "GET", f"/{bucket}/big")
        small_get = signed_head(info, "GET", f"/{bucket}/small")

        # Warm-up (the buffer pools' first fill), then the start figures.
        readers = [threading.Thread(target=read_whole, args=(info, big_get, BIG)) for _ in range(NEVER_READ)]
        for t in readers:
            t.start()
        for t in readers:
            t.join(60)
        client.run("warm-up", 300, until=time.monotonic() + 4)
        time.sleep(0.5)
        fds_start, rss_start = fds(pid), status_kib(pid, "VmRSS")
        m0 = scrape(metrics_port)
        client.run("unloaded", 300, until=time.monotonic() + 4)

        trickler = Trickler()
        trickler.start()
        t_open = time.monotonic()
        opened = 0
        while opened < args.idle:
            n = min(BATCH, args.idle - opened)
            batch = open_nonblocking(target, n)
            socks += batch
            opened += n
            if not wait_until(lambda: fds(pid) >= fds_start + opened, 15):
                raise AssertionError(f"the server accepted {fds(pid) - fds_start} of {opened} connections")
            client.pair("opening")
        t_idle_open = time.monotonic()
        for s in socks:
            trickler.add(s, "idle", b"", t_idle_open)
        kept = open_nonblocking(target, KEPT_ALIVE)
        socks += kept
        for s in kept:
            s.setblocking(True)
            s.sendall(small_get)
        for s in kept:
            status, _, body, rest = read_response(s, timeout=10)
            assert status == 200 and body == SMALL and rest == b"", status
            s.setblocking(False)
            trickler.add(s, "kept-alive", b"", time.monotonic())
        client.pair("opening")
        heads = open_nonblocking(target, SLOW_HEADS)
        socks += heads
        now = time.monotonic()
        for s in heads:
            trickler.add(s, "slow-head", small_get, now)
        body = os.urandom(SLOW_BODY)
        put_head = signed_head(info, "PUT", f"/{bucket}/slow-body", body=body)
        bodies = open_nonblocking(target, SLOW_BODIES)
        socks += bodies
        now = time.monotonic()
        for s in bodies:
            s.sendall(put_head)
            trickler.add(s, "slow-body", body, now)
        client.pair("opening")
        never = open_nonblocking(target, NEVER_READ, rcvbuf=4096)
        socks += never
        for s in never:
            s.setblocking(True)
            s.sendall(big_get)
        t_never = time.monotonic()
        never_ports = {s.getsockname()[1] for s in never}
        piped = open_nonblocking(target, PIPELINED, rcvbuf=4096)
        socks += piped
        flood = small_get * PIPELINE_DEPTH
        piped_sent = []
        for s in piped:
            s.setblocking(False)
            sent = 0
            try:
                while sent < len(flood):
                    sent += s.send(flood[sent:sent + 65536])
            except BlockingIOError:
                pass
            piped_sent.append(sent)
        t_piped = time.monotonic()
        piped_ports = {s.getsockname()[1] for s in piped}

        # The active attackers.
        pad_line = "a" * 3900
        at_limit_extra = {f"X-Pad-{i}": pad_line for i in range(3)}
        base = signed_head(info, "GET", f"/{bucket}/small", extra=at_limit_extra)
        room = HEAD_LIMIT - len(base) - len("X-Pad-9: \r\n") - 8
        at_limit = signed_head(info, "GET", f"/{bucket}/small",
                               extra={**at_limit_extra, "X-Pad-9": "b" * room})
        over_limit = signed_head(info, "GET", f"/{bucket}/small",
                                 extra={**at_limit_extra, "X-Pad-8": "c" * 3900, "X-Pad-9": "b" * 600})
        assert len(at_limit) <= HEAD_LIMIT < len(over_limit), (len(at_limit), len(over_limit))
        fig["head_sizes"] = [len(at_limit), len(over_limit)]
        flip = [0]

        def limit_step():
            flip[0] ^= 1
            with socket.create_connection(target, timeout=2) as s:
                s.sendall(at_limit if flip[0] else over_limit)
                status, _, b, _ = read_response(s, timeout=2)
                return ("at-limit " if flip[0] else "over-limit ") + answer_code(status, b)

        half = os.urandom(512 << 10)
        vanish_head = signed_head(info, "PUT", f"/{bucket}/vanished", body=half + half)

        def vanish_step():
            s = socket.create_connection(target, timeout=2)
            s.sendall(vanish_head + half)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            return "vanished"

        wrong = dict(info, secret="wrong" + info["secret"][5:])
        bad_conn = [None]

        def bad_sig_step():
            if bad_conn[0] is None:
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.settimeout(2)
                s.connect(target)
                bad_conn[0] = s
            s = bad_conn[0]
            s.sendall(signed_head(wrong, "GET", f"/{bucket}/small"))
            status, headers, b, _ = read_response(s, timeout=2)
            if headers.get("connection", "").lower() == "close" or status == 0:
                s.close()
                bad_conn[0] = None
            return answer_code(status, b)

        attackers = [Attacker("limits", limit_step, 100), Attacker("vanish", vanish_step, 20),
                     Attacker("bad-signatures", bad_sig_step, 200)]
        for a in attackers:
            a.start()
        t_opened = time.monotonic()
        held = args.idle + KEPT_ALIVE + SLOW_HEADS + SLOW_BODIES + NEVER_READ + PIPELINED
        if not wait_until(lambda: fds(pid) >= fds_start + held, 15):
            raise AssertionError(f"the server holds {fds(pid) - fds_start} of {held} hostile sockets")
        fds_held, rss_held = fds(pid), status_kib(pid, "VmRSS")
        cpu_before = {k: cpu_seconds(s["proc"].pid) for k, s in (("loaded", info), ("control", control))}
        t_held = time.monotonic()
        first_timeout = t_idle_open + header_timeout
        # The shedding phase, SHED_WINDOW s before the first timeout.
        shed_at = first_timeout - SHED_WINDOW
        pairs = client.run("loaded", SAMPLES, until=shed_at)
        t_loaded = time.monotonic()
        cpu_held = {k: (cpu_seconds(s["proc"].pid) - cpu_before[k]) / (t_loaded - t_held)
                    for k, s in (("loaded", info), ("control", control))}
        rss_peak = max(rss_held, status_kib(pid, "VmRSS"))
        still_open = {k: trickler.open_count(k) for k in ("idle", "kept-alive", "slow-head", "slow-body")}
        never_held = len(held_by_server(target[1], never_ports))
        piped_held = len(held_by_server(target[1], piped_ports))
        fig["opened_in_s"] = round(t_opened - t_open, 2)
        fig["held_during_measurement"] = {**still_open, "never-read": never_held, "pipelined": piped_held}
        verdicts.append(("every hostile socket held through the measurement",
                         still_open == {"idle": args.idle, "kept-alive": KEPT_ALIVE, "slow-head": SLOW_HEADS,
                                        "slow-body": SLOW_BODIES}
                         and never_held == NEVER_READ and piped_held == PIPELINED))

        # Over the cap: the attackers that come and go stop (each of their
        # closes frees a slot), the cap is filled, then every connection
        # past it must be shed.
        for a in attackers:
            a.stop.set()
        for a in attackers:
            a.join(3)
        if bad_conn[0] is not None:
            bad_conn[0].close()
        def serving():
            return int(scrape(metrics_port).get('sluice_open_connections{thread="0"}', 0))
        # Filled until it holds (slots the stopped attackers give back
        # come free a moment later: they are filled too).
        fillers = []
        deadline = time.monotonic() + 5
        while (free := cap - serving()) > 0 and time.monotonic() < deadline:
            more = open_nonblocking(target, free)
            fillers += more
            socks += more
            wait_until(lambda: serving() >= cap, 0.5)
        if serving() < cap:
            raise AssertionError(f"the server serves {serving()} connections, not its cap {cap}")
        shed_seen = {}
        shed_times = []
        for i in range(0, OVER_CAP, 30):
            batch = open_nonblocking(target, min(30, OVER_CAP - i))
            t0 = time.monotonic()
            for s in batch:
                s.setblocking(True)
                try:
                    s.sendall(small_get)
                    status, headers, b, _ = read_response(s, timeout=5)
                    what = answer_code(status, b) + (" retry-after" if "retry-after" in headers else "")
                except (ConnectionResetError, BrokenPipeError):
                    what = "reset"
                except socket.timeout:
                    what = "no answer"
                shed_seen[what] = shed_seen.get(what, 0) + 1
                s.close()
            shed_times.append(time.monotonic() - t0)
            client.pair("shedding")
        fig["over_cap"] = shed_seen
        fig["over_cap_batch_s_max"] = round(max(shed_times), 3)
        verdicts.append((f"all {OVER_CAP} connections over the cap answered 503 SlowDown",
                         shed_seen.get("503 SlowDown retry-after", 0) == OVER_CAP))
        rss_peak = max(rss_peak, status_kib(pid, "VmRSS"))
        fds_held = max(fds_held, fds(pid))
        m_held = scrape(metrics_port)


        # Closing: timeouts run out while the client keeps asking.
        deadline = t_opened + max(header_timeout, send_timeout, idle_timeout) + 20
        released = {}
        while time.monotonic() < deadline:
            client.pair("closing")
            rss_peak = max(rss_peak, status_kib(pid, "VmRSS"))
            now = time.monotonic()
            server_held = held_by_server(target[1], never_ports | piped_ports)
            for port in never_ports | piped_ports:
                if port not in server_held:
                    released.setdefault(port, now)
            if (trickler.open_count() == 0 and len(released) == NEVER_READ + PIPELINED
                    and fds(pid) <= fds_start):
                break
            time.sleep(0.05)
        fds_end = fds(pid)
        for s in fillers:
            s.close()
        trickler.stop.set()
        trickler.join(5)
        rss_end = status_kib(pid, "VmRSS")
        t_rss = time.monotonic()
        while rss_end > rss_start * 1.10 and time.monotonic() - t_rss < 5:
            client.pair("closing")
            time.sleep(0.25)
            rss_end = status_kib(pid, "VmRSS")
        m_end = scrape(metrics_port)

        closes = {}
        with trickler.lock:
            for s, (kind, _, sent, since) in trickler.socks.items():
                at = trickler.closed_at.get(s)
                closes.setdefault(kind, []).append(None if at is None else round(at - since, 2))
        answered_bodies = {}
        for s, data in trickler.answered.items():
            if trickler.socks[s][0] == "slow-body":
                line = data.split(b"\r\n", 1)[0].decode(errors="replace")
                answered_bodies[line] = answered_bodies.get(line, 0) + 1
        fig["closed_after_s"] = {k: [min(v for v in c if v is not None) if any(c) else None,
                                     max(v for v in c if v is not None) if any(c) else None,
                                     sum(v is None for v in c)] for k, c in closes.items()}
        fig["never_read_released_s"] = round(max(released[p] for p in never_ports) - t_never, 2) \
            if all(p in released for p in never_ports) else None
        fig["pipelined_released_s"] = round(max(released[p] for p in piped_ports) - t_piped, 2) \
            if all(p in released for p in piped_ports) else None
        fig["slow_body_answers"] = answered_bodies
        fig["attackers"] = {a.name: {"requests": a.n, "answers": a.counts} for a in attackers}
        for k in ("loaded", "control"):
            for ph in ("unloaded", "loaded", "shedding", "closing"):
                if (k, ph) in client.times:
                    fig.setdefault("p99_ms", {})[f"{k}/{ph}"] = round(p99(client.times[(k, ph)]) * 1e3, 2)
        p99_loaded, p99_unloaded = client.p99("loaded", "loaded"), client.p99("control", "loaded")
        fig["pairs_loaded"] = pairs
        fig["ratio"] = round(p99_loaded / p99_unloaded, 2)
        fig["max_answer_ms"] = round(max(client.all()) * 1e3, 1)
        fig["cpu_while_held"] = {k: round(v, 2) for k, v in cpu_held.items()}
        fig["fds"] = {"start": fds_start, "held": fds_held, "end": fds_end}
        fig["rss_kib"] = {"start": rss_start, "held": rss_held, "peak": rss_peak, "end": rss_end,
                          "hwm": status_kib(pid, "VmHWM")}
        fig["rss_per_held_connection_kib"] = round((rss_held - rss_start) / max(1, held), 1)
        fig["metrics"] = {
            k.replace("sluice_", ""): m_end.get(k, 0) - m0.get(k, 0)
            for k in sorted(set(m_end) | set(m0))
            if k.startswith(("sluice_request_errors_total", "sluice_connections_shed_total",
                             "sluice_auth_failures_total"))
        }
        fig["metrics_shed_while_held"] = m_held.get("sluice_connections_shed_total", 0) - \
            m0.get("sluice_connections_shed_total", 0)
        tmp_left = [n for n in os.listdir(os.path.join(work, "root", ".sluice", "tmp"))] \
            if os.path.isdir(os.path.join(work, "root", ".sluice", "tmp")) else []
        fig["temporaries_left"] = len(tmp_left)

        ratio_ok = pairs >= MIN_SAMPLES and p99_loaded <= 2 * p99_unloaded
        verdicts.append((f"normal client's p99 within 2x of the control's ({fig['ratio']}x, {pairs} pairs)",
                         ratio_ok or args.no_latency_verdict))
        verdicts.append((f"every answer to the normal client a success within {MAX_ANSWER} s",
                         max(client.all()) <= MAX_ANSWER))
        verdicts.append(("every hostile socket closed by the server",
                         all(v is not None for c in closes.values() for v in c)
                         and len(released) == NEVER_READ + PIPELINED))
        verdicts.append(("slow bodies refused before their head's timeout plus a second",
                         all(v is not None and v <= header_timeout + 1 + 4 for v in closes.get("slow-body", []))))
        verdicts.append(("descriptors back to the start figure", fds_end <= fds_start))
        verdicts.append(("RSS back within 10% of the start", rss_end <= rss_start * 1.10))
        verdicts.append(("no temporary file left by the vanished clients", not tmp_left))
        bad = fig["attackers"]["bad-signatures"]["answers"]
        verdicts.append(("wrong signatures from 127.0.0.2: 403 SignatureDoesNotMatch, then 503 SlowDown",
                         set(bad) <= {"403 SignatureDoesNotMatch", "503 SlowDown"}
                         and bad.get("503 SlowDown", 0) > 0))
        lim = fig["attackers"]["limits"]["answers"]
        verdicts.append(("heads at the limit answered 200, over it 431/400",
                         # (503 SlowDown while the cap is full, on purpose)
                         set(lim) <= {"at-limit 200", "over-limit 400 RequestHeaderSectionTooLarge",
                                      "at-limit 503 SlowDown", "over-limit 503 SlowDown"}
                         and lim.get("at-limit 200", 0) > 0))
    finally:
        for a in attackers:
            a.stop.set()
        if trickler:
            trickler.stop.set()
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        for srv in (info, control):
            if srv:
                stop_sluice(srv)
    for name, ok in verdicts:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(json.dumps(fig, indent=1) if args.json else fig)
    if not all(ok for _, ok in verdicts):
        print(f"work directory kept: {work}")
        sys.exit(1)
    import shutil
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
