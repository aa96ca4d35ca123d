"""The timeline frame and the ``diagnose`` / ``timeline`` commands."""

from __future__ import annotations

import csv
import io
import json

import pytest

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.timeline import LANES, policy_diff, timeline
from flowforensics.cli import main
from flowforensics.frames.schema import SCHEMAS
from flowforensics.scenarios import SCENARIOS

from .test_diagnosis import VPC_REMOVE_FLOW_LOGS


def test_policy_diff_is_one_line() -> None:
    before = {"Statement": [{"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "arn:x:*"}]}
    after = {"Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:x"}]}
    assert policy_diff(before, after) == "-Allow logs:PutLogEvents on arn:x:*; +Allow logs:PutLogEvents on arn:x"
    assert policy_diff(before, None).startswith("deleted: -Allow")


def trigger_group_arn(expected) -> str:
    return f"arn:aws:logs:{expected.region}:{expected.account_id}:log-group:{expected.log_group}"


def test_timeline_has_every_lane_in_order(scenario_folder) -> None:
    expected = SCENARIOS["permission-removed"].expected
    table = timeline(flowforensics.load(scenario_folder("permission-removed")), expected.flow_log_id)
    assert list(table.columns) == list(SCHEMAS["timeline"])
    assert set(table["lane"]) == set(LANES)
    assert table["time"].is_monotonic_increasing
    trigger = table[table["event_id"] == expected.trigger_event_id].iloc[0]
    assert trigger["lane"] == "iam" and trigger["actor"] == expected.trigger_actor
    diff = trigger["detail"]["diff"]["inline:flow-logs-delivery"]  # scoped to the group, without ':*'
    assert "-Allow logs:PutLogEvents on *" in diff and diff.endswith(f"+Allow logs:PutLogEvents on {trigger_group_arn(expected)}")
    assert expected.red_herring_event_ids[0] not in set(table["event_id"].dropna())  # another role's change


def test_diagnose_command_json_and_summary(capsys) -> None:
    assert main(["diagnose", str(VPC_REMOVE_FLOW_LOGS), "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)["flow_logs"][0]
    assert entry["root_cause"] == "flow-log-deleted" and entry["status"] == "DELETED"
    assert main(["diagnose", str(VPC_REMOVE_FLOW_LOGS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fl-0e17aa62a21d4bbfe DELETED flow-log-deleted (confirmed): FAILING") and "christophe" in out


def test_diagnose_command_lists_the_flow_logs_and_how_to_pick_one(capsys) -> None:
    from sample_paths import SAMPLES

    assert main(["diagnose", str(SAMPLES)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 flow logs in this evidence (2 failing):"
    assert sum(" DELETED flow-log-deleted " in line for line in lines) == 2
    assert lines[-1].startswith(f"The full diagnosis of one: flowforensics diagnose {SAMPLES} --flow-log-id fl-")
    assert main(["timeline", str(SAMPLES), "--csv"]) == 0
    assert "this timeline covers 2 flow logs" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "status"), [("healthy", 0), ("permission-removed", 0), ("trust-edited", 3),
                                              ("flow-log-deleted", 3), ("latent-trust-edited", 3)])
def test_check_exits_3_while_a_flow_log_fails_or_is_at_risk(name: str, status: int, scenario_folder, capsys) -> None:
    folder = str(scenario_folder(name))
    assert main(["diagnose", folder, "--check"]) == status
    assert main(["diagnose", folder, "--check", "--json"]) == status
    assert main(["diagnose", folder]) == 0  # the default stays: 0 whatever the diagnosis


def test_the_summary_says_each_thing_once_and_groups_what_is_undecided(scenario_folder, capsys) -> None:
    assert main(["diagnose", str(scenario_folder("no-cloudtrail"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    undecided = [line for line in lines if line.startswith("  undecided")]
    # one reason (CloudTrail refused) for the eight role hypotheses, said once with AWS's error
    assert len(undecided) == 1 and "could not be read" in undecided[0] and "AccessDeniedException" in undecided[0]
    assert any("to decide: " in line and "aws cloudtrail lookup-events --region us-east-1" in line for line in lines)
    assert not any("inconclusive inconclusive" in line for line in lines)
    assert main(["diagnose", str(scenario_folder("permission-removed"))]) == 0
    confirmed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  confirmed"))
    assert "logs:CreateLogStream and logs:PutLogEvents on " in confirmed and confirmed.count("implicitly denied") == 1
    assert main(["diagnose", str(scenario_folder("permission-removed")), "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert verbose.count("implicitly denied") >= 3 and "ruled_out" in verbose  # every finding in full


def test_bad_input_is_one_line_and_exit_1(capsys, tmp_path) -> None:
    assert main(["diagnose", str(tmp_path / "missing")]) == 1
    assert main(["diagnose", str(VPC_REMOVE_FLOW_LOGS), "--flow-log-id", "fl-1"]) == 1
    assert main(["timeline", str(VPC_REMOVE_FLOW_LOGS), "--flow-log-id", "fl-1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "no such file" in err[0] and "fl-1" in err[1]


def test_timeline_command_csv_and_json(capsys) -> None:
    assert main(["timeline", str(VPC_REMOVE_FLOW_LOGS), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["lane"], r["kind"], r["event_id"]) for r in rows] == [
        ("flow-log", "DeleteFlowLogs", "ded2f5af-f3a5-46d2-a170-a23206a32c36")
    ]
    assert main(["timeline", str(VPC_REMOVE_FLOW_LOGS), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["actor"] == "arn:aws:iam::498376118699:user/christophe" and row["time"].startswith("2024-07-31T15:07:49")


def test_timeline_lists_the_log_group_s_kms_key_changes(scenario_folder) -> None:
    expected = SCENARIOS["kms-key-denied"].expected
    table = timeline(flowforensics.load(scenario_folder("kms-key-denied")), expected.flow_log_id)
    kms = table[table["kind"].isin(["AssociateKmsKey", "PutKeyPolicy"])]
    assert list(kms["kind"]) == ["AssociateKmsKey", "PutKeyPolicy"] and set(kms["lane"]) == {"log-group"}
    trigger = kms[kms["event_id"] == expected.trigger_event_id].iloc[0]
    assert trigger["actor"] == expected.trigger_actor and expected.log_group in trigger["summary"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_event_the_diagnosis_cites_is_in_the_timeline(name: str, scenario_folder) -> None:
    evidence = flowforensics.load(scenario_folder(name))
    for entry in diagnose(evidence).flow_logs:
        listed = set(timeline(evidence, entry.flow_log_id)["event_id"].dropna())
        cited = {event.event_id for event in (entry.trigger, entry.recovery) if event is not None}
        assert cited <= listed, f"{entry.flow_log_id}: {sorted(cited - listed)} cited but not in the timeline"


def test_the_role_creating_its_log_group_again_is_a_change_its_stream_calls_are_not(tmp_path) -> None:
    account, role = "111122223333", "arn:aws:iam::111122223333:role/FlowLogsDeliveryRole"
    flow_log = {"FlowLogId": "fl-0a0a0a0a0a0a0a0a0", "DeliverLogsPermissionArn": role, "LogGroupName": "/vpc/flow-logs/prod",
                "ResourceId": "vpc-0a1b2c3d4e5f60718", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs",
                "FlowLogStatus": "ACTIVE", "DeliverLogsStatus": "SUCCESS", "CreationTime": "2024-04-02T08:15:31Z"}
    identity = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/FlowLogsDeliveryRole/vpc-flow-logs",
                "accountId": account, "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": account}}}

    def call(event_id: str, name: str, request: dict) -> dict:
        return {"eventVersion": "1.09", "eventID": event_id, "eventTime": "2024-05-22T09:00:00Z", "eventSource": "logs.amazonaws.com",
                "eventName": name, "awsRegion": "eu-west-1", "recipientAccountId": account, "userIdentity": identity,
                "requestParameters": request, "responseElements": None, "readOnly": False}

    (tmp_path / "flow-logs.json").write_text(json.dumps({"FlowLogs": [flow_log]}))
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [
        call("created", "CreateLogGroup", {"logGroupName": "/vpc/flow-logs/prod"}),
        call("stream", "CreateLogStream", {"logGroupName": "/vpc/flow-logs/prod", "logStreamName": "eni-0aa77bb88cc99dd00-all"}),
    ]}))
    table = timeline(flowforensics.load(tmp_path))
    assert list(table.loc[table["lane"] == "log-group", "event_id"]) == ["created"]


def test_a_log_group_change_whose_record_has_no_read_only_is_on_the_timeline(log_group_deleted) -> None:
    # A record without readOnly (an export that dropped it, or a forged one) left it NA, and "NA != True" is NA,
    # which pandas' filter drops: the DeleteLogGroup that stopped delivery was missing from the timeline.
    tmp_path = log_group_deleted("readOnly")
    rows = timeline(flowforensics.load(tmp_path))
    assert list(rows.loc[rows["lane"] == "log-group", "summary"]) == [
        "DeleteLogGroup /vpc/flow-logs/prod by arn:aws:iam::381492650217:user/mallory"]
