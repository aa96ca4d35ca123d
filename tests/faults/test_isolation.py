"""One bad value costs its record, field or file, with a warning naming the file and the reason; never the run.

Each case of the issue's list is added to a complete incident, which must still be diagnosed exactly as
without it; ``strict=True`` stops at the first.
"""

from __future__ import annotations

import json
import os

import pytest

import flowforensics
from flowforensics.cli import main
from flowforensics.errors import EvidenceError

ROLE = "arn:aws:iam::381492650217:role/prod-core-vpc-flow-logs-role"


def record(event_id: str, **fields) -> dict:
    """A real-shaped CloudTrail record (a DescribeFlowLogs call), with ``fields`` replaced."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAVQ3EXAMPLE:sam.okafor@example.com",
            "arn": "arn:aws:sts::381492650217:assumed-role/AWSReservedSSO_SecurityAudit/sam.okafor@example.com",
            "accountId": "381492650217",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::381492650217:role/AWSReservedSSO_SecurityAudit"}},
        },
        "eventTime": "2024-03-24T17:05:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeFlowLogs",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"flowLogIds": {}},
        "responseElements": None,
        "eventID": event_id,
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": "381492650217",
        **fields,
    }


GOOD = record("5a1b2c3d-0000-4000-8000-000000000001")


def trail(*bad: dict) -> str:
    """A CloudTrail log file: the bad records, then one good one."""
    return json.dumps({"Records": [*bad, GOOD]})


DENIED_WITHOUT_MESSAGE = record(
    "5a1b2c3d-0000-4000-8000-0000000000de",
    eventSource="logs.amazonaws.com", eventName="PutLogEvents", errorCode="AccessDeniedException",
    eventTime="2024-03-24T17:01:00Z",
    userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::381492650217:assumed-role/prod-core-vpc-flow-logs-role/flowlogs",
                  "accountId": "381492650217", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}},
    requestParameters={"logGroupName": "/vpc/flow-logs/prod-core", "logStreamName": "eni-0a1b2c3d4e5f60718-all"},
)

WRONG = "1 of 2 CloudTrail records have fields of a type CloudTrail does not write there (kept, those fields left empty)"

# case -> (file name, content, the warning expected for it, or None when the value is simply not used)
CASES: dict[str, tuple[str | bytes, bytes | str, str | None]] = {
    "2,000 nested [": ("deep.json", "[" * 2000, "nested too deeply to read"),
    "eventTime in 2263": ("t.json", trail(record("e-2263", eventTime="2263-01-01T00:00:00Z")),
                          "1 of 2 CloudTrail records have no usable eventTime"),
    "eventTime epoch-ms 1e13": ("t.json", trail(record("e-1e13", eventTime=1e13)), "1 of 2 CloudTrail records have no usable eventTime"),
    "Records: 5": ("five.json", json.dumps({"Records": 5}), "'Records' is a JSON int, not a list of records (skipped)"),
    "sessionContext not an object": ("t.json", trail(record("e-ctx", userIdentity={"type": "AssumedRole", "sessionContext": "x"})), WRONG),
    "userIdentity a string": ("t.json", trail(record("e-uid", userIdentity="root")), WRONG),
    "sessionIssuer a list": ("t.json", trail(record("e-iss", userIdentity={"sessionContext": {"sessionIssuer": [1]}})), WRONG),
    "errorMessage an object": ("t.json", trail(record("e-msg", errorCode="AccessDenied", errorMessage={"a": 1})), WRONG),
    "requestParameters nested 5,000 deep as a string": (
        "t.json", trail(record("e-deep", requestParameters="[" * 5000 + "]" * 5000)), WRONG),
    "requestParameters nested 5,000 deep as an object string": (
        "t.json", trail(record("e-deep", requestParameters='{"a":' * 5000 + "1" + "}" * 5000)), WRONG),
    "requestParameters a list": ("t.json", trail(record("e-list", requestParameters=[None])), WRONG),
    "responseElements a number": ("t.json", trail(record("e-five", responseElements=5)), WRONG),
    "AccessDenied without errorMessage": ("t.json", trail(DENIED_WITHOUT_MESSAGE), None),
    "a list roleName": ("t.json", trail(record(
        "e-role", eventSource="iam.amazonaws.com", eventName="PutRolePolicy", awsRegion="us-east-1", readOnly=False,
        requestParameters={"roleName": ["prod-core-vpc-flow-logs-role", "x"], "policyName": "p", "policyDocument": "{}"})),
        "1 of 2 CloudTrail records have names in requestParameters that are not text (roleName; kept, those names left empty)"),
    "a list kmsKeyId": ("t.json", trail(record(
        "e-kms", eventSource="logs.amazonaws.com", eventName="AssociateKmsKey", awsRegion="eu-west-1", readOnly=False,
        requestParameters={"logGroupName": "/vpc/flow-logs/prod-core", "kmsKeyId": ["k1", "k2"]})),
        "1 of 2 CloudTrail records have names in requestParameters that are not text (kmsKeyId; kept, those names "
        "left empty)"),
    "an object policyArn and a number roleName": ("t.json", trail(record(
        "e-arn", eventSource="iam.amazonaws.com", eventName="AttachRolePolicy", awsRegion="us-east-1", readOnly=False,
        requestParameters={"roleName": 7, "policyArn": {"arn": "arn:aws:iam::aws:policy/AdministratorAccess"}})),
        "1 of 2 CloudTrail records have names in requestParameters that are not text (policyArn, roleName; kept, "
        "those names left empty)"),
    "a list RoleName in get-role": ("role.json", json.dumps({"Role": {"RoleName": ["a"], "Arn": "arn:aws:iam::381492650217:role/a"}}),
                                    "1 values do not fit their field (left empty: role_name=['a'])"),
    "retentionInDays thirty": ("groups.json", json.dumps({"logGroups": [
        {"logGroupName": "/vpc/other", "retentionInDays": "thirty", "arn": "arn:aws:logs:eu-west-1:381492650217:log-group:/vpc/other:*"}]}),
        "1 values do not fit their field (left empty: retention_days='thirty')"),
    "metric value lots": ("m.json", json.dumps({"MetricDataResults": [{
        "Id": "m1", "Label": "IncomingLogEvents", "Timestamps": ["2024-03-24T17:00:00Z"], "Values": ["lots"], "StatusCode": "Complete"}]}),
        "1 values do not fit their field (left empty: value='lots')"),
    "metric value NaN": ("m.json", '{"MetricDataResults": [{"Id": "m1", "Label": "IncomingLogEvents", '
                         '"Timestamps": ["2024-03-24T17:00:00Z"], "Values": [NaN], "StatusCode": "Complete"}]}',
                         "1 values do not fit their field (left empty: value=nan)"),
    "a flow log that is a string": ("fl.json", json.dumps({"FlowLogs": ["fl-1"]}),
                                    "1 FlowLogs entries are malformed (skipped; the first: a JSON str, not an object)"),
    "a file name with non-UTF-8 bytes": (b"trail-\xff\xfe.json", trail(), None),
}


@pytest.fixture(scope="module")
def baseline(incident):
    evidence = flowforensics.load(incident)
    return evidence, _diagnose_json(incident)


def _diagnose_json(folder) -> dict:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["diagnose", os.fsdecode(folder), "--json"])
    # File names in the findings differ only by the folder's own path.
    text = out.getvalue().replace(json.dumps(os.fsdecode(folder))[1:-1], "EVIDENCE")
    return {"status": status, "json": json.loads(text) if text else None, "stderr": err.getvalue()}


def _write(folder, name, content, prefix: bytes = b"") -> bytes:
    path = os.path.join(os.fsencode(folder), prefix + (name if isinstance(name, bytes) else name.encode()))
    with open(path, "wb") as handle:
        handle.write(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_value_costs_only_itself(case, baseline, copy_of, figures):
    name, content, warning = CASES[case]
    folder = copy_of()
    path = _write(folder, name, content)
    figures["inputs tried"] += 1
    figures["faults injected"] += 1
    evidence = flowforensics.load(folder)
    if warning is not None:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        assert any(p.path == shown and warning in p.reason for p in evidence.problems), evidence.problems
    # Every record of the incident is still there, and the good record beside the bad one.
    kept = set(evidence.events["event_id"])
    lost = set(baseline[0].events["event_id"]) - kept
    figures["records lost"] += len(lost)
    assert not lost
    if '"Records": [' in str(content):
        assert GOOD["eventID"] in kept


def test_every_bad_value_at_once_is_still_diagnosed(baseline, copy_of, figures):
    from tests.faults.conftest import digest_tree

    folder = copy_of()
    for number, (name, content, _warning) in enumerate(CASES.values()):
        _write(folder, name, content, prefix=f"{number:02d}-".encode())
    before = digest_tree(folder)
    figures["inputs tried"] += 1
    figures["faults injected"] += len(CASES)
    result = _diagnose_json(folder)
    assert result["status"] == 0
    assert "Traceback" not in result["stderr"]
    assert result["json"] == baseline[1]["json"]
    assert all(line.startswith("flowforensics: warning: ") for line in result["stderr"].splitlines())
    figures.evidence_unchanged(before, folder)
    assert figures["evidence files changed"] == 0


@pytest.mark.parametrize("case", [c for c, (_n, _c, warning) in CASES.items() if warning])
def test_strict_mode_stops_at_the_first(case, copy_of):
    name, content, warning = CASES[case]
    folder = copy_of()
    (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(EvidenceError) as raised:
        flowforensics.load(folder, strict=True)
    assert warning in raised.value.reason
