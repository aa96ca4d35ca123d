"""Wildcard matching (actions, resources, StringLike, ArnLike) runs in linear time and stays correct.

A regular expression translated from a glob backtracks: ``*a*a*a...b`` against a long run of ``a``
takes exponential time, which hung ``diagnose`` on a 44-byte trust-policy condition and ``iam simulate``
on ``"*a"*12+"b"``. The matcher is checked here against two references on adversarial patterns: a
dynamic programme over (pattern, value) positions, and the regular-expression translation the tool
used before (on inputs short enough for it). Speed is measured in benchmarks/bench_wildcards.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from functools import cache

from hypothesis import example, given, settings
from hypothesis import strategies as st

from flowforensics.analysis.iam.matching import compile_glob
from flowforensics.cli import main

ACCOUNT = "111122223333"


def dp_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Reference: does the glob ``pattern`` (``*`` any run, ``?`` one character) match all of ``value``?"""
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()

    @cache
    def from_(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        if pattern[i] == "*":
            return from_(i + 1, j) or (j < len(value) and from_(i, j + 1))
        return j < len(value) and pattern[i] in ("?", value[j]) and from_(i + 1, j + 1)

    return from_(0, 0)


def old_arn_regex(pattern: str, expand: bool) -> re.Pattern[str]:
    """Reference for ARNs: the translation to a regular expression the matcher replaced."""

    def glob(text: str, star: str, one: str) -> str:
        return "".join({"*": star, "?": one}.get(c) or re.escape(c) for c in text)

    parts = pattern.split(":", 5)
    head = [
        glob(part[:-1], "[^:]*", "[^:]") + ".*" if expand and part.endswith("*") else glob(part, "[^:]*", "[^:]")
        for part in parts[:-1]
    ]
    return re.compile(":".join([*head, glob(parts[-1], ".*", ".")]) + r"\Z", re.DOTALL)


SMALL = st.text(alphabet="ab:*?", max_size=12)
VALUES = st.text(alphabet="ab:", max_size=14)


@settings(max_examples=400, deadline=None)
@given(SMALL, VALUES)
@example("*a" * 12 + "b", "a" * 14)
@example("a*?b", "a:b")
def test_globs_match_as_the_reference(pattern, value):
    assert compile_glob(pattern).match(value) is dp_match(pattern, value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aAbB*?", max_size=10), st.text(alphabet="aAbB", max_size=12))
def test_actions_ignore_case(pattern, value):
    assert compile_glob(pattern, True).match(value) is dp_match(pattern, value, ignore_case=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab*?", max_size=4), min_size=1, max_size=7).map(":".join), VALUES,
       st.sampled_from(["resource", "condition"]))
@example("arn:aws:logs:*", "arn:aws:logs:eu-west-1:1:log-group:g:log-stream:s", "resource")
@example("a*:b", "a:a:b", "resource")
def test_arns_match_as_the_regular_expressions_did(pattern, value, kind):
    expected = old_arn_regex(pattern, kind == "resource").match(value) is not None
    assert compile_glob(pattern, False, kind).match(value) is expected


def test_adversarial_patterns_answer(figures):
    # Each of these took the regular-expression engine exponential time; here each is one pass.
    flow_log = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc-flow-log/fl-" + "a" * 300
    cases = [
        ("*a" * 12 + "b", "a" * 5000, None, False),
        ("*a" * 12 + "b", "a" * 5000 + "b", None, True),
        ("*a" * 21 + "*b", "a" * 200, None, False),  # 44 bytes, as the trust-policy condition
        ("arn:aws:ec2:*:*:vpc-flow-log/" + "*a" * 16 + "*b", flow_log, "condition", False),
        ("arn:aws:ec2:*:*:vpc-flow-log/" + "*a" * 16 + "*b", flow_log + "b", "condition", True),
        ("arn:aws:logs:" + "*a" * 16 + "b:*", "arn:aws:logs:" + "a" * 300 + ":x", "resource", False),
        ("arn:aws:logs:" + "*a" * 16 + "b:*", "arn:aws:logs:" + "a" * 300 + "b:x", "resource", True),
    ]
    for pattern, value, kind, expected in cases:
        figures["inputs tried"] += 1
        assert compile_glob(pattern, False, kind).match(value) is expected


def _simulate(request) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["iam", "simulate", request])
    return status, out.getvalue()


def test_iam_simulate_answers_adversarial_conditions(tmp_path, figures):
    flow_log = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:vpc-flow-log/fl-" + "a" * 60
    service = {"Service": "vpc-flow-logs.amazonaws.com"}
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": service, "Action": "sts:AssumeRole",
         "Condition": {"StringLike": {"aws:SourceArn": "*a" * 21 + "*b"}}},
        {"Effect": "Allow", "Principal": service, "Action": "sts:AssumeRole",
         "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:*:vpc-flow-log/" + "*a" * 16 + "*b"}}},
        {"Effect": "Allow", "Principal": service, "Action": "*a" * 12 + "b"},
    ]}
    request = {
        "request": {"principal": "vpc-flow-logs.amazonaws.com", "action": "sts:AssumeRole",
                    "resource": f"arn:aws:iam::{ACCOUNT}:role/flow", "resource_account": ACCOUNT,
                    "context": {"aws:SourceArn": flow_log, "aws:SourceAccount": ACCOUNT}},
        "identity_policies": [], "resource_policy": trust,
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    figures["inputs tried"] += 1
    figures["faults injected"] += 1
    status, out = _simulate(str(path))
    assert status == 0
    assert json.loads(out)["decision"] == "ImplicitlyDenied"
