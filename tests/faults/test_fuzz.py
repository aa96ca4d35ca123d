"""Fuzzing with hypothesis: CloudTrail records, manifests and IAM policies of any shape.

Their strings are any text, lone surrogates, control characters and very long text included
(``tests/faults/strategies.py``); every other evidence kind is fuzzed in ``test_fuzz_evidence.py``.

No exception escapes ``load``, ``diagnose``, ``verify`` or ``iam simulate`` (a bad request is one
``EvidenceError``); no record is lost without being counted; an explicit deny, written with any
wildcards that cover the request, still wins in every layer. Examples are few and small so that the
suite stays fast; the figures each test tried are recorded (see conftest.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.iam.simulate import simulate_text
from flowforensics.errors import EvidenceError
from flowforensics.evidence.manifest import EvidenceWriter, verify
from tests.faults.conftest import digest_tree
from tests.faults.strategies import JSON, SCALARS, TEXT
from tests.iam.test_properties import CASES, LAYERS, decide, with_statement

ACCOUNT = "381492650217"
IAM = "iam.amazonaws.com"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flow-logs-role"
GROUP = "/vpc/flow-logs/prod"
# The suite tries the same examples on every run, so that a red run can be reproduced;
# FLOWFORENSICS_FUZZ=N explores N fresh random examples per test.
EXPLORE = int(os.environ.get("FLOWFORENSICS_FUZZ", "0"))
FUZZ = settings(max_examples=EXPLORE or 10, derandomize=not EXPLORE, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

EVENTS = [
    ("iam.amazonaws.com", "PutRolePolicy"), ("iam.amazonaws.com", "DeleteRolePolicy"), ("iam.amazonaws.com", "DeleteRole"),
    ("iam.amazonaws.com", "CreateRole"), ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
    ("iam.amazonaws.com", "AttachRolePolicy"), ("iam.amazonaws.com", "PutRolePermissionsBoundary"),
    ("ec2.amazonaws.com", "CreateFlowLogs"), ("ec2.amazonaws.com", "DeleteFlowLogs"),
    ("logs.amazonaws.com", "PutLogEvents"), ("logs.amazonaws.com", "CreateLogStream"), ("logs.amazonaws.com", "DeleteLogGroup"),
    ("sts.amazonaws.com", "AssumeRole"), ("organizations.amazonaws.com", "UpdatePolicy"),
]
FIELDS = ["eventTime", "eventID", "userIdentity", "requestParameters", "responseElements", "errorCode", "errorMessage",
          "awsRegion", "readOnly", "resources", "recipientAccountId", "sourceIPAddress", "userAgent", "eventSource"]


def record(source: str, name: str, time: str = "2024-03-24T10:00:00Z", event_id: str = "e-0",
           **fields: Any) -> dict[str, Any]:
    """A real-shaped CloudTrail record about the delivery role, with ``fields`` replaced."""
    return {
        "eventVersion": "1.09", "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
        "eventTime": time, "eventID": event_id,
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/flow-logs-role/s",
                         "accountId": ACCOUNT, "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
        "requestParameters": {"roleName": "flow-logs-role", "policyName": "delivery", "logGroupName": GROUP,
                              "policyDocument": json.dumps({"Version": "2012-10-17", "Statement": []})},
        "responseElements": None, "recipientAccountId": ACCOUNT,
        **fields,
    }


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """:func:`record` of a drawn event, time and id, with some fields replaced by any JSON."""
    source, name = draw(st.sampled_from(EVENTS))
    drawn = record(source, name, f"2024-03-24T{draw(st.integers(10, 20)):02d}:{draw(st.integers(0, 59)):02d}:00Z",
                   f"e-{draw(st.integers(0, 10**6))}")
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        drawn[field] = draw(JSON)
    request = drawn["requestParameters"]
    if isinstance(request, dict) and request and draw(st.booleans()):
        # A name the analysis matches on (the role, the policy, the log group) with hostile text in it.
        name = draw(st.sampled_from(sorted(request)))
        request[name] = f"{request[name]}{draw(TEXT)}"
    return drawn


def _folder(root, trail: list[Any]) -> None:
    """A small collected folder: a failing flow log, its role, and the fuzzed CloudTrail records."""
    writer = EvidenceWriter(root)
    writer.write("ec2:DescribeFlowLogs", {"FlowLogs": [{
        "FlowLogId": "fl-0a1b2c3d4e5f60718", "ResourceId": "vpc-0a1b2c3d", "TrafficType": "ALL", "LogGroupName": GROUP,
        "DeliverLogsPermissionArn": ROLE, "DeliverLogsStatus": "FAILED", "DeliverLogsErrorMessage": "Access error",
        "FlowLogStatus": "ACTIVE", "LogDestinationType": "cloud-watch-logs", "CreationTime": "2024-02-12T16:47:49Z"}]},
        region="eu-west-1", account=ACCOUNT)
    writer.write("iam:GetRole", {"Role": {
        "RoleName": "flow-logs-role", "Arn": ROLE, "RoleId": "AROAEXAMPLE", "CreateDate": "2024-02-12T16:40:00Z",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}},
        account=ACCOUNT)
    writer.write("cloudtrail:LookupEvents", {"Records": trail}, region="eu-west-1", account=ACCOUNT, name="trail.json")
    writer.close()


def _counted(evidence) -> int:
    counters = evidence.counters
    return len(evidence.events) + counters.duplicates + counters.malformed + counters.oversized


@FUZZ
@given(trail=st.lists(st.one_of(records(), JSON), max_size=6))
# Found by exploring: a requestParameters that is a list; a role recreated by a CreateRole without a time.
@example(trail=[record(IAM, "PutRolePolicy"), record(IAM, "DeleteRole", eventTime=None, requestParameters=[None])])
@example(trail=[record(IAM, "PutRolePolicy"), record(IAM, "DeleteRole"), record(IAM, "CreateRole", eventTime=None)])
def test_no_exception_escapes_load_or_diagnose_and_no_record_is_lost(tmp_path_factory, trail, figures):
    root = tmp_path_factory.mktemp("fuzz")
    _folder(root, trail)
    before = digest_tree(root)
    figures["inputs tried"] += 1
    figures["faults injected"] += len(trail)
    evidence = flowforensics.load(root)
    # Every record read is an event, or a duplicate, malformed or oversized record counted as such.
    figures["records lost"] += evidence.counters.read - _counted(evidence)
    assert _counted(evidence) == evidence.counters.read
    result = diagnose(evidence)
    assert json.loads(result.to_json())["flow_logs"][0]["flow_log_id"] == "fl-0a1b2c3d4e5f60718"
    figures.evidence_unchanged(before, root)
    assert figures["evidence files changed"] == 0


MANIFEST_FIELDS = ["files", "gaps", "caller_identity", "seal", "format", "version", "created"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(MANIFEST_FIELDS), JSON, max_size=3),
       entries=st.lists(st.one_of(JSON, st.fixed_dictionaries({"path": st.sampled_from(
           ["../x", "/etc/passwd", "trail.json", "a/../../b", "\x00", ""]), "sha256": JSON})), max_size=3))
def test_no_manifest_stops_load_verify_or_diagnose(tmp_path_factory, changes, entries, figures):
    root = tmp_path_factory.mktemp("manifest")
    _folder(root, [])
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(changes)
    if isinstance(manifest.get("files"), list):
        manifest["files"].extend(entries)
    (root / "manifest.json").write_text(json.dumps(manifest))
    figures["inputs tried"] += 1
    figures["faults injected"] += len(changes) + len(entries)
    evidence = flowforensics.load(root)
    assert len(evidence.flow_logs) == 1
    diagnose(evidence)
    try:
        verify(root)
    except EvidenceError:
        pass  # a manifest that is not one is one clear line


POLICY_KEYS = ["Version", "Statement", "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
               "NotPrincipal", "Condition", "StringLike", "ArnLike", "AWS", "Service", "aws:SourceArn", "Allow", "Deny"]
POLICY_JSON = st.recursive(
    st.one_of(SCALARS, st.sampled_from(POLICY_KEYS + ["*", "logs:*", "logs:Put*", "arn:aws:logs:*:*:*"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(POLICY_KEYS), inner, max_size=4)),
    max_leaves=15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policies=st.lists(POLICY_JSON, max_size=3), resource_policy=POLICY_JSON, request=st.one_of(JSON, st.just("ok")))
def test_no_exception_escapes_iam_simulate(policies, resource_policy, request, figures):
    body = {"request": {"principal": ROLE, "action": "logs:PutLogEvents", "resource": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{GROUP}:log-stream:s",
                        "resource_account": ACCOUNT, "context": {}} if request == "ok" else request,
            "identity_policies": policies, "resource_policy": resource_policy}
    figures["inputs tried"] += 1
    try:
        answer = json.loads(simulate_text(json.dumps(body, allow_nan=True), "fuzz.json"))
    except EvidenceError:
        return
    assert answer["decision"] in {"Allowed", "ImplicitlyDenied", "ExplicitlyDenied"}


@st.composite
def covering(draw: st.DrawFn, text: str) -> str:
    """A wildcard pattern that matches ``text``: characters kept, or replaced by ``?``, runs by ``*`` (colons kept,
    so that no wildcard has to cross one)."""
    out: list[str] = []
    for character in text:
        choice = "keep" if character == ":" else draw(st.sampled_from(["keep", "keep", "one", "star"]))
        if choice == "star":
            if not out or out[-1] != "*":
                out.append("*")
        else:
            out.append(character if choice == "keep" else "?")
    return "".join(out)


@settings(max_examples=100, deadline=None)
@given(CASES, st.sampled_from(LAYERS), st.data())
def test_a_deny_written_with_any_covering_wildcards_still_wins(case: dict[str, Any], layer: str, data: st.DataObject) -> None:
    # tests/iam/test_properties.py checks a deny of "*" and of sampled statements; here the deny names the
    # request itself through wildcards drawn at random, in actions, resources and an ArnLike condition.
    request = case["request"]
    deny: dict[str, Any] = {"Effect": "Deny", "Action": data.draw(covering(request["action"])),
                            "Resource": data.draw(covering(request["resource"]))}
    source_arn = request["context"].get("aws:SourceArn")
    if source_arn and data.draw(st.booleans()):
        deny["Condition"] = {"ArnLike": {"aws:SourceArn": data.draw(covering(source_arn))}}
    if layer in ("resource", "rcp"):
        deny["Principal"] = "*"
    assert decide(with_statement(case, layer, deny)) == "ExplicitlyDenied"
