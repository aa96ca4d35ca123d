"""Sum the fault suite's figures: ``python -m tests.faults.figures FILE`` (see tests/faults/conftest.py)."""

from __future__ import annotations

import json
import sys
from collections import Counter


def main(path: str) -> None:
    total: Counter[str] = Counter()
    tests = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            entry.pop("test")
            tests += 1
            total.update(entry)
    print(f"tests reporting: {tests}")
    for name in ("inputs tried", "faults injected", "records lost", "evidence files checked", "evidence files changed",
                 "payloads executed", "hangs"):
        print(f"{name}: {total.get(name, 0)}")


if __name__ == "__main__":
    main(sys.argv[1])
