#!/usr/bin/env python3
"""shoal-bench's command line: bad options and impossible knobs exit 2 with
the usage; a short run with every observer on (--duration, --json, --trace,
--stats) works and writes what it says; --baseline marks a regression and
only a regression.

usage: shoal_bench_cli_test.py SHOAL_BENCH SHOAL_TRACE
"""
import json
import os
import subprocess
import sys
import tempfile

bench, trace_tool = sys.argv[1], sys.argv[2]
failures = []


def run(*args, timeout=300):
    return subprocess.run([bench, *args], capture_output=True, text=True, timeout=timeout)


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


# -- bad command lines -------------------------------------------------------------
tmp = tempfile.mkdtemp(prefix="shoal-bench-cli-")
junk = os.path.join(tmp, "junk.json")
with open(junk, "w") as f:
    f.write("{not json")
for args in (["--workers", "0"], ["--bogus"], ["--reps", "-1"], ["--reps", "x"],
             ["--noise", "0"], ["--duration", "0"], ["--duration", "-2"], ["no-such-workload"],
             ["--json"], ["--trace", "--stats"], ["--baseline", "/nonexistent/base.json"],
             ["--baseline", junk], ["--stats=yes"], ["--throughput", "0"],
             ["--message-size", "100"], ["--message-size", "-64"]):
    r = run("ping-pong", *args)
    check(r.returncode == 2, f"{args}: exit {r.returncode}, want 2")
    check("usage:" in r.stderr, f"{args}: no usage text on stderr")

r = run("--help")
check(r.returncode == 0 and "--trace FILE" in r.stdout, "--help")
r = run("--list")
check(r.returncode == 0 and "ping-pong" in r.stdout and "fan-in/256" in r.stdout, "--list")
# A remote workload whose server program is missing fails at once, naming
# it, before any repetition runs.
if "remote-idle" in r.stdout:
    missing = subprocess.run([bench, "remote-idle", "--no-caf", "--reps", "1"], capture_output=True,
                             text=True, timeout=60,
                             env={**os.environ, "SHOAL_NODE": "/nonexistent/shoal-node"})
    check(missing.returncode == 1 and "/nonexistent/shoal-node is not built" in missing.stderr
          and "bench-suite" in missing.stderr, f"a missing server program: exit "
          f"{missing.returncode}\n{missing.stderr}")

# -- a short observed run ------------------------------------------------------------
out_json = os.path.join(tmp, "run.json")
out_trace = os.path.join(tmp, "run.trace")
r = run("ping-pong", "--no-caf", "--reps", "2", "--workers", "2", "--duration", "0.05",
        "--json", out_json, "--trace", out_trace, "--stats")
check(r.returncode == 0, f"observed run: exit {r.returncode}\n{r.stderr}")
check("[calibrate] ping-pong" in r.stderr, "no calibration line")
check("worker" in r.stderr and "busy%" in r.stderr, "--stats printed no worker table")
check("flight recorder on" in r.stdout, "the report does not say the recorder was on")
with open(out_json) as f:
    report = json.load(f)
rec = [x for x in report["results"] if x["workload"] == "ping-pong" and x["system"] == "shoal"]
check(len(rec) == 1, "no ping-pong record in the JSON")
if rec:
    check(len(rec[0]["runs"]) == 2, "two repetitions recorded")
    check(rec[0]["median"] > 0, "a positive median")
    check("scale" in rec[0]["params"], "the --duration scale is recorded")
check(os.path.getsize(out_trace) > 32, "the trace file was written")
t = subprocess.run([trace_tool, out_trace, "--summary"], capture_output=True, text=True,
                   timeout=120)
check(t.returncode == 0, f"shoal-trace reads the trace: exit {t.returncode}\n{t.stderr}")

# -- a payload ---------------------------------------------------------------------------------
out_json2 = os.path.join(tmp, "payload.json")
r = run("ping-pong", "ring", "--no-caf", "--reps", "1", "--workers", "2", "--duration", "0.05",
        "--message-size", "256", "--json", out_json2)
check(r.returncode == 0, f"payload run: exit {r.returncode}\n{r.stderr}")
check("message payload: 256 bytes" in r.stdout, "the report names the payload")
with open(out_json2) as f:
    for rec in json.load(f)["results"]:
        check(rec["params"].get("message_bytes") == 256, f"{rec['workload']}: message_bytes")

# -- baselines -------------------------------------------------------------------------------
def baseline(median):
    path = os.path.join(tmp, f"base-{median}.json")
    with open(path, "w") as f:
        json.dump({"results": [{"workload": "ping-pong", "system": "shoal", "median": median}]}, f)
    return path


r = run("ping-pong", "--no-caf", "--reps", "1", "--workers", "2", "--duration", "0.05",
        "--baseline", baseline(1e12))
check(r.returncode == 0, f"baseline run: exit {r.returncode}")
def row(out):
    return "".join(line for line in out.splitlines() if line.startswith("| ping-pong"))


check("REGRESSION" in row(r.stdout) and "1 regression(s)" in r.stdout,
      "a median far below the baseline is a regression")
r = run("ping-pong", "--no-caf", "--reps", "1", "--workers", "2", "--duration", "0.05",
        "--baseline", baseline(1.0))
check(r.returncode == 0 and "REGRESSION" not in row(r.stdout) and "0 regression(s)" in r.stdout,
      "a median far above the baseline is no regression")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
