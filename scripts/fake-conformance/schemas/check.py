"""Checks every response the provider fakes logged against the official description of the API
each one imitates (see docs/providers/testing-fakes.md).

    check.py --descriptions <dir> <log dir>      check the logs
    check.py --descriptions <dir> --self-test    prove that known-bad bodies are refused

<dir> holds the installed descriptions (see check.sh): node_modules/ and site-packages/.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import services  # noqa: E402


def load(log_dir: str, service: str) -> list[dict]:
    entries = []
    for path in sorted(glob.glob(os.path.join(log_dir, f"{service}.*.jsonl"))):
        with open(path, encoding="utf-8") as file:
            entries += [json.loads(line) for line in file if line.strip()]
    return entries


def check_logs(checkers: dict, log_dir: str) -> int:
    failed = False
    for service, checker in checkers.items():
        entries = load(log_dir, service)
        checked = 0
        operations: set[str] = set()
        deviations: collections.Counter = collections.Counter()
        undescribed: collections.Counter = collections.Counter()
        failures: dict[tuple, list] = collections.defaultdict(list)
        for entry in entries:
            where = f"{entry['method']} {entry['path']} -> {entry['status']}"
            if entry.get("deviation"):
                deviations[f"{where}: {entry['deviation']}"] += 1
                continue
            outcome = checker.check(entry)
            if outcome.undescribed:
                undescribed[f"{entry['method']} {outcome.operation}"] += 1
                continue
            checked += 1
            if outcome.operation:
                operations.add(outcome.operation)
            if outcome.errors:
                # The same fault at every item of a list is reported once: indexes collapse.
                distinct = list(dict.fromkeys(re.sub(r"\[\d+\]", "[*]", e) for e in outcome.errors))
                key = (outcome.operation or where, entry["status"], tuple(distinct[:12]))
                failures[key].append(where)
        print(
            f"{service}: {checked} responses checked against {checker.source}, "
            f"{len(operations)} operations covered, {len(undescribed) and sum(undescribed.values())} "
            f"to undescribed endpoints, {sum(deviations.values())} deliberate deviations, "
            f"{sum(len(v) for v in failures.values())} failing"
        )
        for operation in sorted(operations):
            print(f"  covered: {operation}")
        for name, count in sorted(undescribed.items()):
            print(f"  undescribed (listed): {name} x{count}")
        for name, count in sorted(deviations.items()):
            print(f"  deviation: {name} x{count}")
        if not entries:
            print(f"  FAIL: the {service} fake logged no response; the check would pass vacuously")
            failed = True
        elif checked == 0:
            print(f"  FAIL: no {service} response was checked against its description")
            failed = True
        for (operation, status, errors), wheres in sorted(failures.items(), key=lambda item: str(item[0])):
            failed = True
            print(f"  FAIL {operation} (status {status}), {len(wheres)} response(s), e.g. {wheres[0]}:")
            for error in errors:
                print(f"      {error}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--descriptions", required=True)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--only", help="comma-separated services to check")
    parser.add_argument("log_dir", nargs="?")
    args = parser.parse_args()
    checkers = services.load_all(args.descriptions)
    if args.only:
        checkers = {name: checkers[name] for name in args.only.split(",")}
    if args.self_test:
        return services.self_test(checkers)
    if not args.log_dir:
        parser.error("the log directory is required")
    return check_logs(checkers, args.log_dir)


if __name__ == "__main__":
    sys.exit(main())
