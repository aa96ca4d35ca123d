"""Benchmark: delivery verdicts a second, cached evaluator against a naive re-parse-every-time baseline.

Time-travel diagnosis evaluates the delivery verdict once per role state along a timeline, and a
role goes back and forth between a few states (a policy edited, reverted, a deny added and
removed). This script builds realistic documents (an identity policy of 20 statements with
conditions, the recommended trust policy, a 10-statement permissions boundary, two SCP levels),
a timeline of 10,000 verdicts over 40 distinct states, and measures in the same run:

- ``cached``: :func:`delivery_verdict` as the diagnosis calls it, with the documents as the
  evidence frames hold them (the same objects each time a state recurs);
- ``cached, equal copies``: each verdict gets freshly parsed, equal documents (new objects);
- ``baseline``: every verdict parses every document from JSON again, compiles it and evaluates
  without any cache.

Run: ``.venv/bin/python benchmarks/bench_iam_verdict.py`` (goal: >= 10x the baseline and
>= 20,000 verdicts a second).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from flowforensics.analysis.iam import delivery
from flowforensics.analysis.iam.delivery import delivery_verdict
from flowforensics.analysis.iam.documents import _compile, normalise

VERDICTS = 10_000
STATES = 40
ACCOUNT = "111122223333"
REGION = "eu-west-1"
SERVICES = ["s3", "ec2", "kms", "sqs", "sns", "dynamodb", "lambda", "ssm", "secretsmanager", "cloudwatch"]
CONDITIONS = [
    {"StringEquals": {"aws:RequestedRegion": [REGION, "eu-central-1"]}},
    {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringLike": {"aws:PrincipalTag/team": "net-*"}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": ["cost-center", "owner"]}},
]


def identity_policy(version: int, rng: random.Random) -> dict[str, Any]:
    """20 statements with conditions; the delivery statement's scope varies with ``version``."""
    statements = []
    for index in range(19):
        service = SERVICES[index % len(SERVICES)]
        statements.append({
            "Sid": f"S{index}v{version}",
            "Effect": "Deny" if index % 7 == 6 else "Allow",
            "Action": [f"{service}:Get*", f"{service}:List*", f"{service}:Describe*"],
            "Resource": f"arn:aws:{service}:{REGION}:{ACCOUNT}:*/team-{rng.randint(0, 99)}/*",
            "Condition": rng.choice(CONDITIONS),
        })
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/flow"
    scope = [group, f"{group}:*"] if version % 4 else [group]  # every fourth version: the ':*' pitfall
    statements.append({
        "Sid": f"Delivery{version}",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups",
                   "logs:DescribeLogStreams"],
        "Resource": scope + ["*"] * (version % 2),
        "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}},
    })
    return {"Version": "2012-10-17", "Statement": statements}


def trust_policy(source_account: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": source_account},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{source_account}:vpc-flow-log/*"}}}]}


def boundary() -> dict[str, Any]:
    statements = [{"Sid": f"B{i}", "Effect": "Allow", "Action": f"{s}:*", "Resource": "*"} for i, s in enumerate(SERVICES[:9])]
    statements.append({"Sid": "Logs", "Effect": "Allow", "Action": "logs:*", "Resource": "*",
                       "Condition": {"StringEquals": {"aws:RequestedRegion": [REGION]}}})
    return {"Version": "2012-10-17", "Statement": statements}


def scps() -> list[list[dict[str, Any]]]:
    full = {"Version": "2012-10-17", "Statement": [{"Sid": "FullAWSAccess", "Effect": "Allow", "Action": "*", "Resource": "*"}]}
    guard = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Regions", "Effect": "Deny", "NotAction": ["iam:*", "sts:*", "organizations:*"], "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestedRegion": [REGION, "eu-central-1"]}}},
        {"Sid": "KeepTrails", "Effect": "Deny", "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"], "Resource": "*"},
        {"Sid": "KeepLogs", "Effect": "Deny", "Action": ["logs:DeleteLogGroup", "ec2:DeleteFlowLogs"], "Resource": "*",
         "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/breakglass"}}},
    ]}
    return [[full], [full, guard]]


def states() -> list[dict[str, Any]]:
    rng = random.Random(7)
    policies = [identity_policy(version, rng) for version in range(STATES // 2)]
    trusts = [trust_policy(ACCOUNT), trust_policy("444455556666")]
    shared_boundary, shared_scps = boundary(), scps()
    return [
        {
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/flow-logs",
            "trust_policy": trusts[index % 2],
            "identity_policies": [policies[index // 2]],
            "permissions_boundary": shared_boundary,
            "scp_levels": shared_scps,
            "log_group": "/vpc/flow",
            "region": REGION,
            "account_id": ACCOUNT,
            "flow_log_arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-0123456789abcdef0",
        }
        for index in range(STATES)
    ]


def timeline(all_states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(11)
    return [all_states[rng.randrange(len(all_states))] for _ in range(VERDICTS)]


def naive_verdict(state: dict[str, Any]) -> Any:
    """Parse every document from its JSON text, compile it and decide, with no cache at all."""
    def compiled(document: Any, source: str) -> Any:
        return _compile(normalise(json.dumps(document)), source)

    trust = compiled(state["trust_policy"], "trust_policy")
    identity = tuple(compiled(p, f"identity_policies[{i}]") for i, p in enumerate(state["identity_policies"]))
    bound = (compiled(state["permissions_boundary"], "permissions_boundary"),)
    levels = tuple(tuple(compiled(p, f"scp_levels[{d}][{i}]") for i, p in enumerate(level))
                   for d, level in enumerate(state["scp_levels"]))
    return delivery._verdict.__wrapped__(
        state["role_arn"], trust, identity, bound, levels, state["log_group"], state["region"], state["account_id"],
        state["flow_log_arn"], "aws",
    )


def rate(label: str, run: Any, calls: int) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    per_second = calls / elapsed
    print(f"{label:<32} {calls:>6} verdicts in {elapsed:7.3f} s = {per_second:>10,.0f} verdicts/s")
    return per_second


def main() -> None:
    all_states = states()
    events = timeline(all_states)
    texts = {id(s): json.dumps(s) for s in all_states}
    baseline_calls = VERDICTS // 10  # the baseline is slow; its rate is per verdict all the same
    baseline = rate("baseline (re-parse every time)", lambda: [naive_verdict(s) for s in events[:baseline_calls]], baseline_calls)
    delivery._verdict.cache_clear()
    cached = rate("cached (evidence objects)", lambda: [delivery_verdict(**s) for s in events], VERDICTS)
    copies = rate("cached (equal copies)", lambda: [delivery_verdict(**json.loads(texts[id(s)])) for s in events], VERDICTS)
    # Same answers whichever way they were computed.
    for state in all_states:
        assert naive_verdict(state).to_dict() == delivery_verdict(**state).to_dict()
    print(f"speed-up, evidence objects: {cached / baseline:6.1f}x (goal >= 10x); {cached:,.0f}/s (goal >= 20,000/s)")
    print(f"speed-up, equal copies:     {copies / baseline:6.1f}x")
    denied = sum(not delivery_verdict(**s).allowed for s in all_states)
    print(f"{len(all_states)} distinct states, {denied} of them denied")


if __name__ == "__main__":
    main()
