#!/usr/bin/env python3
"""tools/run-bench from a clean build directory builds every program the
benchmark suite starts (issue 21: it built only shoal-bench, and all 60
remote runs failed with "cannot start .../shoal-node").

shoal-bench --programs (in this build, where everything is built) names
the programs the workloads start; each must exist here, and run-bench's
build of a fresh directory (configured for real, built as a dry run) must
link each of them. Without bench/CAF in this build there is nothing to check.

usage: run_bench_build_test.py SHOAL_BENCH SOURCE_ROOT
"""
import os
import shutil
import subprocess
import sys
import tempfile

bench, root = sys.argv[1], sys.argv[2]
build_dir = os.path.dirname(os.path.dirname(os.path.abspath(bench)))
env = {k: v for k, v in os.environ.items() if k not in ("SHOAL_NODE", "SHOAL_CAF_NODE")}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


r = subprocess.run([bench, "--programs"], capture_output=True, text=True, env=env, timeout=120)
check(r.returncode == 0, f"shoal-bench --programs: exit {r.returncode}\n{r.stderr}")
programs = [line for line in r.stdout.splitlines() if line]
if not programs:
    print("shoal-bench starts no programs here (no io_uring?): nothing to check")
    sys.exit(0)
names = [os.path.basename(p) for p in programs]
check("shoal-node" in names, f"shoal-node is not among the programs: {programs}")
relative = []
for p in programs:
    check(os.access(p, os.X_OK), f"{p} is not an executable here")
    rel = os.path.relpath(p, build_dir)
    check(not rel.startswith(".."), f"{p} is outside the build directory {build_dir}")
    relative.append(rel)

fresh = tempfile.mkdtemp(prefix="shoal-run-bench-")
try:
    env["SHOAL_BUILD_DIR"] = os.path.join(fresh, "build")
    env["SHOAL_BENCH_DRY_RUN"] = "1"
    r = subprocess.run([os.path.join(root, "tools", "run-bench")], capture_output=True,
                       text=True, env=env, timeout=600)
    check(r.returncode == 0, f"run-bench (dry run): exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    linked = {line.split("Linking target ", 1)[1].strip()
              for line in r.stdout.splitlines() if "Linking target " in line}
    for rel in relative + ["tools/shoal-bench"]:
        check(rel in linked, f"run-bench's build of a clean directory does not link {rel}")
finally:
    shutil.rmtree(fresh, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("run-bench builds every program the suite starts:", ", ".join(relative))
