#!/usr/bin/env python3
"""The kv example as a test: starts kv_server, reads its port from its first
line, loads it with kv_load (modest numbers: the sanitizer builds run this
too), checks the load client's report (every percentile line, zero errors),
and stops the server with SIGTERM, which must end it with exit 0. Then a
second server answers each command by hand, pipelined lines in order, and
stops on SHUTDOWN. No sleeps: every wait is for an event, with a generous
deadline that fails with a message.

usage: run_kv_test.py KV_SERVER KV_LOAD
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

server_exe, load_exe = sys.argv[1], sys.argv[2]
DEADLINE = 60.0  # seconds, for each wait
servers = []


def fail(why):
    print(f"example_kv: FAILED: {why}", file=sys.stderr)
    for p in servers:
        if p.poll() is None:
            p.kill()
    sys.exit(1)


def start_server():
    """A running kv_server and its port, read from its first stdout line."""
    p = subprocess.Popen([server_exe, "--port", "0"], stdout=subprocess.PIPE)
    servers.append(p)
    line = b""
    end = time.monotonic() + DEADLINE
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            fail(f"kv_server printed no first line within {DEADLINE:.0f} s")
        c = os.read(p.stdout.fileno(), 1)
        if not c:
            fail(f"kv_server exited ({p.wait()}) before its first line")
        line += c
    m = re.fullmatch(r"kv_server: listening on 127\.0\.0\.1:(\d+)\n", line.decode())
    if not m:
        fail(f"unexpected first line from kv_server: {line!r}")
    print(line.decode(), end="")
    return p, int(m.group(1))


def wait_exit(p, what):
    try:
        out, _ = p.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        fail(f"kv_server did not exit within {DEADLINE:.0f} s of {what}")
    print(out.decode(), end="")
    if p.returncode != 0:
        fail(f"kv_server exited {p.returncode} after {what}, want 0")


# -- 1. load, then SIGTERM -------------------------------------------------------
server, port = start_server()
try:
    load = subprocess.run(
        [load_exe, "--port", str(port), "--connections", "4", "--requests", "2000"],
        capture_output=True, text=True, timeout=240)
except subprocess.TimeoutExpired:
    fail("kv_load did not finish within 240 s")
print(load.stdout, end="")
print(load.stderr, end="", file=sys.stderr)
if load.returncode != 0:
    fail(f"kv_load exited {load.returncode}")
if not re.search(r"^kv_load: .* 8000 done, 0 errors ", load.stdout, re.M):
    fail("kv_load's summary does not say 8000 done, 0 errors")
for mark in ("p50", "p90", "p99", "p99.9", "max"):
    if not re.search(rf"^latency {re.escape(mark)} +[0-9.]+ us$", load.stdout, re.M):
        fail(f"kv_load printed no {mark} line")
server.send_signal(signal.SIGTERM)
wait_exit(server, "SIGTERM")

# -- 2. each command by hand, pipelined, then SHUTDOWN ----------------------------
server, port = start_server()
with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
    script = [
        ("SET a 1", "OK"),
        ("GET a", "VALUE 1"),
        ("SET greeting hello, world", "OK"),
        ("GET greeting", "VALUE hello, world"),
        ("GET nothing", "NOT_FOUND"),
        ("DEL a", "DELETED"),
        ("DEL a", "NOT_FOUND"),
    ]
    # Many keys, so the lines go to every shard and their answers come back
    # from the shards out of order: the server must still answer in order.
    script += [(f"SET k{i} {i}", "OK") for i in range(200)]
    script += [(f"GET k{i}", f"VALUE {i}") for i in range(200)]
    script += [("COUNT", "COUNT 201"), ("HELLO", None), ("SHUTDOWN", "BYE")]
    s.sendall("".join(line + "\n" for line, _ in script).encode())
    got = b""
    try:
        while got.count(b"\n") < len(script):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        lines = got.count(b"\n")
        fail(f"kv_server answered {lines} of {len(script)} lines within {DEADLINE:.0f} s")
    answers = got.decode().splitlines()
    if len(answers) != len(script):
        fail(f"kv_server answered {len(answers)} of {len(script)} lines")
    for (line, want), answer in zip(script, answers):
        ok = answer.startswith("ERROR") if want is None else answer == want
        if not ok:
            fail(f"{line!r} was answered {answer!r}, want {want or 'ERROR ...'!r}")
wait_exit(server, "SHUTDOWN")
print("example_kv: ok")
