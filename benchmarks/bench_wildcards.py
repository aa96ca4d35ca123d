"""Benchmark: wildcard matching on adversarial patterns, the linear matcher against a backtracking regex.

IAM wildcards (``*``, ``?``) in actions, resources and ``StringLike``/``ArnLike`` conditions come from
evidence, which an attacker may write. Translated into a regular expression (``.*`` per ``*``, as
``fnmatch.translate`` does and as flowforensics did before), a pattern such as ``"*a"*12+"b"`` against a
run of ``a`` backtracks exponentially. This script times, in the same run, :func:`compile_glob` and
that translation on such patterns; the regular expression runs in a child process killed after
``CAP`` seconds (the ``re`` engine cannot be interrupted), so a hang shows as ``> CAP``.

Run: ``.venv/bin/python benchmarks/bench_wildcards.py`` (goal: every pattern answers in well under a
millisecond per kilobyte of value; the regular expression exceeds the cap as the stars grow).
"""

from __future__ import annotations

import multiprocessing
import re
import time

from flowforensics.analysis.iam.matching import compile_glob

CAP = 5.0
CASES = [(stars, "*a" * stars + "b", "a" * length) for stars, length in ((4, 30), (8, 30), (12, 30), (12, 5000), (21, 200))]


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z", re.DOTALL)


def _regex_match(pattern: str, value: str) -> None:
    _regex(pattern).match(value)


def time_regex(pattern: str, value: str) -> float | None:
    """Seconds the regular expression takes, or None past the cap."""
    child = multiprocessing.Process(target=_regex_match, args=(pattern, value))
    start = time.perf_counter()
    child.start()
    child.join(CAP)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return time.perf_counter() - start


def time_glob(pattern: str, value: str, repeat: int = 20) -> float:
    glob = compile_glob(pattern)
    start = time.perf_counter()
    for _ in range(repeat):
        glob.match(value)
    return (time.perf_counter() - start) / repeat


def main() -> None:
    print(f"{'stars':>5} {'value':>7} {'linear matcher':>15} {'regex (backtracking)':>22} {'ratio':>10}")
    for stars, pattern, value in CASES:
        linear = time_glob(pattern, value)
        regex = time_regex(pattern, value)
        shown = f"> {CAP:.0f} s (killed)" if regex is None else f"{regex * 1000:.3f} ms"
        ratio = f"> {CAP / linear:,.0f}x" if regex is None else f"{regex / linear:,.1f}x"
        print(f"{stars:>5} {len(value):>7} {linear * 1000:>12.3f} ms {shown:>22} {ratio:>10}")
    print("(the regex time includes starting a child process, about 10-50 ms)")


if __name__ == "__main__":
    main()
