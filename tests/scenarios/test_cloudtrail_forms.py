"""The two forms CloudTrail reaches an analyst in, for any set of records."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from flowforensics.evidence.values import parse_time
from flowforensics.scenarios.cloudtrail import Actor, Trail, lookup_pages, s3_log_files

ACCOUNT = "111122223333"
ACTORS = (
    Actor("IAMUser", "alice", user_agent="aws-cli/2.15.30", source_ip="203.0.113.9"),
    Actor("AssumedRole", "deployer", "run-1", user_agent="console.amazonaws.com", source_ip="198.51.100.1"),
    Actor("AWSService", "vpc-flow-logs.amazonaws.com"),
)
CALLS = (
    ("iam.amazonaws.com", "PutRolePolicy", {"roleName": "r", "policyName": "p", "policyDocument": "{}"}),
    ("ec2.amazonaws.com", "DescribeFlowLogs", {"DescribeFlowLogsRequest": ""}),
    ("sts.amazonaws.com", "AssumeRole", {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "roleSessionName": "s"}),
    ("logs.amazonaws.com", "CreateLogStream", {"logGroupName": "/vpc/x", "logStreamName": "eni-1"}),
)
START = datetime(2024, 3, 1, tzinfo=UTC)

calls = st.lists(
    st.tuples(st.integers(0, 3 * 86400), st.sampled_from(ACTORS), st.sampled_from(CALLS),
              st.sampled_from(["eu-west-1", "us-west-2"])),
    max_size=140,
)


def _trail(drawn: list) -> Trail:
    trail = Trail(ACCOUNT, random.Random(7))
    for seconds, actor, (source, name, request), region in drawn:
        trail.call(START + timedelta(seconds=seconds), actor, source, name, region, request)
    return trail


@settings(max_examples=40, deadline=None)
@given(calls)
def test_lookup_pages_hold_every_record_once_newest_first(drawn: list) -> None:
    records = _trail(drawn).records
    pages = lookup_pages(records, random.Random(1))
    events = [e for page in pages for e in page["Events"]]
    assert sorted(e["EventId"] for e in events) == sorted(r["eventID"] for r in records)
    assert all(len(page["Events"]) <= 50 for page in pages)
    assert all("NextToken" in page for page in pages[:-1]) and "NextToken" not in pages[-1]
    times = [parse_time(e["EventTime"]) for e in events]
    assert times == sorted(times, reverse=True)
    assert all(json.loads(e["CloudTrailEvent"])["eventID"] == e["EventId"] for e in events)


@settings(max_examples=40, deadline=None)
@given(calls)
def test_s3_files_hold_every_record_once_by_account_region_and_hour(drawn: list) -> None:
    records = _trail(drawn).records
    files = s3_log_files(records, random.Random(1))
    seen = []
    for key, body in files:
        group = json.loads(gzip.decompress(body))["Records"]
        assert {(r["recipientAccountId"], r["awsRegion"], r["eventTime"][:13]) for r in group} == {
            (key.split("/")[1], key.split("/")[3], group[0]["eventTime"][:13])
        }
        delivered = datetime.strptime(key.rsplit("_", 2)[1], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        assert all(parse_time(r["eventTime"]) < delivered for r in group)
        seen += [r["eventID"] for r in group]
    assert sorted(seen) == sorted(r["eventID"] for r in records)
    # Global services land in us-east-1 whatever region the caller used.
    assert all(r["awsRegion"] == "us-east-1" for r in records if r["eventSource"] == "iam.amazonaws.com")
