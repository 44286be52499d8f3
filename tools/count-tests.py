#!/usr/bin/env python3
"""Counts test cases in meson's JUnit log: prints "passed failed skipped".

With `protocol : 'gtest'` meson merges each gtest binary's own XML into its
log, so the counts are gtest cases (a test binary that crashed before writing
its XML shows up as one failed meson-level case).
"""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError, IndexError) as e:
    print(f"count-tests: cannot read JUnit log: {e}", file=sys.stderr)
    print("0 1 0")
    sys.exit(0)

for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None or case.get("result") == "skipped":
        skipped += 1
    else:
        passed += 1
print(passed, failed, skipped)
