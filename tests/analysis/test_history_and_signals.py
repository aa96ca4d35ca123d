"""Role history replayed (holes said, not guessed), verdicts per distinct state, observed delivery windows."""

from __future__ import annotations

import json

import pandas as pd

import flowforensics
from flowforensics.analysis import verdicts as verdicts_module
from flowforensics.analysis.diagnosis import _target
from flowforensics.analysis.history import role_history
from flowforensics.analysis.observed import Signal, failure_windows
from flowforensics.frames.iam_changes import UNKNOWN
from flowforensics.scenarios import SCENARIOS

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flow-role"
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                                  "Resource": "*"}]}


def _record(event_id: str, when: str, name: str, request: dict) -> dict:
    return {
        "eventVersion": "1.09", "eventID": event_id, "eventTime": when, "eventSource": "iam.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "requestParameters": request,
        "responseElements": None,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/bob", "accountId": ACCOUNT},
    }


def test_history_without_creation_or_current_state_says_what_it_does_not_know(tmp_path) -> None:
    records = [
        _record("e1", "2024-05-01T10:00:00Z", "PutRolePolicy",
                {"roleName": "flow-role", "policyName": "deliver", "policyDocument": json.dumps(POLICY)}),
        _record("e2", "2024-05-01T11:00:00Z", "DeleteRolePolicy", {"roleName": "flow-role", "policyName": "deliver"}),
    ]
    (tmp_path / "trail.json").write_text(json.dumps({"Records": records}))
    history = role_history(flowforensics.load(tmp_path), ROLE)
    assert [s.event_id for s in history.snapshots] == [None, "e1", "e2"]
    first, after_put, after_delete = history.snapshots
    assert first.role.inline_policies["deliver"] is UNKNOWN  # what PutRolePolicy overwrote is not in the event
    assert after_put.role.inline_policies["deliver"] == POLICY
    assert "deliver" not in after_delete.role.inline_policies
    # No CreateRole and no current state: the role may have had other policies, and the trust is unknown.
    holes = " ".join(after_delete.holes())
    assert "which policies role flow-role had" in holes and "trust policy" in holes
    assert history.at(pd.Timestamp("2024-05-01T10:30:00Z")) is after_put


def test_anchored_history_walks_back_to_known_states(scenario_folder) -> None:
    expected = SCENARIOS["permission-removed"].expected
    evidence = flowforensics.load(scenario_folder("permission-removed"))
    history = role_history(evidence, expected.role_arn)
    assert history.anchor == "get-account-authorization-details"
    trigger = next(s for s in history.snapshots if s.event_id == expected.trigger_event_id)
    recovery = next(s for s in history.snapshots if s.event_id == expected.recovery_event_id)
    assert not trigger.holes() and not recovery.holes()
    before = history.snapshots[history.snapshots.index(trigger) - 1]
    assert before.role.inline_policies != trigger.role.inline_policies
    assert recovery.role.inline_policies == history.snapshots[-1].role.inline_policies


def test_verdict_is_evaluated_once_per_distinct_state(scenario_folder, monkeypatch) -> None:
    expected = SCENARIOS["permission-removed"].expected
    evidence = flowforensics.load(scenario_folder("permission-removed"))
    row = evidence.flow_logs.astype(object).iloc[0].to_dict()
    history = role_history(evidence, expected.role_arn)
    history.snapshots += [history.snapshots[-1]] * 5  # the same state again and again
    calls = []
    real = verdicts_module.delivery_verdict
    monkeypatch.setattr(verdicts_module, "delivery_verdict", lambda **kw: calls.append(kw) or real(**kw))
    table = verdicts_module.verdicts(history, _target(row))
    assert len(table.frame) == len(history.snapshots)
    assert len(calls) == len({s.key() for s in history.snapshots if s.role.exists})
    denied = table.frame[table.frame["event_id"] == expected.trigger_event_id].iloc[0]
    assert denied["allowed"] == False and denied["root_cause"] == "permission-missing"  # noqa: E712
    assert "logs:CreateLogStream" in denied["reason"]


def _at(minute: int) -> pd.Timestamp:
    return pd.Timestamp("2024-05-01T10:00:00Z") + pd.Timedelta(minutes=minute)


def test_failure_window_from_first_failure_to_first_resumed_period() -> None:
    five = pd.Timedelta(minutes=5)
    found = [
        Signal(_at(0), "metric", True, "m", until=_at(0) + five),
        Signal(_at(3), "access-denied", False, "e1"),
        Signal(_at(5), "metric-zero", False, "m", until=_at(5) + five),
        Signal(_at(20), "metric", True, "m", until=_at(20) + five),
        Signal(_at(22), "access-denied", False, "e2"),  # cached credentials: still refused inside that period
        Signal(_at(25), "metric", True, "m", until=_at(25) + five),
    ]
    windows = failure_windows(found)
    assert list(windows["start"]) == [_at(3)]
    assert list(windows["end"]) == [_at(25)]  # known resumed only at the end of the period holding data
    assert [s["source"] for s in windows["signals"].iloc[0]][:2] == ["e1", "m"]


def test_window_opened_by_an_empty_period_starts_at_the_refused_call_inside_it() -> None:
    five = pd.Timedelta(minutes=5)
    found = [
        Signal(_at(0), "metric-zero", False, "m", until=_at(0) + five),
        Signal(_at(1), "assume-role-denied", False, "e1"),
    ]
    assert failure_windows(found)["start"].iloc[0] == _at(1)
    assert pd.isna(failure_windows(found)["end"].iloc[0])


def _absence_case(source, folder, *, gaps=None, listing_filter=None, drop_trail=False):
    """A copy of the latent-role-deleted folder with its manifest's gaps, listing filter or CloudTrail changed."""
    import shutil

    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if gaps is not None:
        manifest["gaps"] = gaps
    for entry in manifest["files"]:
        if entry["operation"] == "iam:GetAccountAuthorizationDetails" and listing_filter is not None:
            entry["parameters"]["Filter"] = listing_filter
    if drop_trail:
        shutil.rmtree(folder / "cloudtrail")
        manifest["files"] = [entry for entry in manifest["files"] if not entry["path"].startswith("cloudtrail/")]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return flowforensics.load(folder)


def test_a_role_the_collection_shows_absent_is_anchored_absent(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["latent-role-deleted"].expected
    source = scenario_folder("latent-role-deleted")
    # get-role answered NoSuchEntity for the role: its current state is "does not exist".
    history = role_history(flowforensics.load(source), expected.role_arn)
    assert history.anchor == "get-role: NoSuchEntity" and not history.snapshots[-1].role.exists
    assert history.snapshots[-1].event_name == "DeleteRole"  # walked back through the deletion
    # Without that answer, the account's whole listing of roles without it says the same.
    listed = _absence_case(source, tmp_path / "listed", gaps=[])
    assert role_history(listed, expected.role_arn).anchor == "get-account-authorization-details, which does not list it"


def test_a_role_merely_not_collected_is_not_absent(scenario_folder, tmp_path) -> None:
    expected = SCENARIOS["latent-role-deleted"].expected
    source = scenario_folder("latent-role-deleted")
    refused = {"operation": "iam:GetRole", "parameters": {"RoleName": expected.role_arn.rsplit("/", 1)[-1]},
               "region": None, "account": expected.account_id, "error_code": "AccessDenied", "error_message": "no"}
    page_lost = dict(refused, operation="iam:GetAccountAuthorizationDetails", parameters={"Marker": "m"})
    other_role = dict(refused, error_code="NoSuchEntity", parameters={"RoleName": "another-role"})
    cases = {
        "get-role refused, the listing's filter without roles": dict(gaps=[refused], listing_filter=["LocalManagedPolicy"]),
        "a page of the listing refused": dict(gaps=[page_lost]),
        "NoSuchEntity for another role, no listing of roles": dict(gaps=[other_role], listing_filter=["User"]),
    }
    for name, change in cases.items():
        evidence = _absence_case(source, tmp_path / name.replace(" ", "-").replace(",", ""), **change)
        history = role_history(evidence, expected.role_arn)
        assert history.anchor is None, name
    # A listing of another account says nothing of this one's roles.
    assert role_history(flowforensics.load(source), expected.role_arn.replace(expected.account_id, "999999999999")).anchor is None


def test_at_risk_from_a_deleted_role_without_cloudtrail_rests_on_the_collected_absence(scenario_folder, tmp_path) -> None:
    from flowforensics.analysis.diagnosis import diagnose

    evidence = _absence_case(scenario_folder("latent-role-deleted"), tmp_path / "no-trail", drop_trail=True)
    (entry,) = diagnose(evidence).flow_logs
    assert (entry.status, entry.state, entry.root_cause, entry.confidence, entry.trigger) == (
        "SUCCESS", "at-risk", "role-deleted", "confirmed", None)
    finding = next(f for f in entry.findings if f.code == "role-deleted")
    assert finding.summary.startswith("the role as collected (get-role: NoSuchEntity) refuses delivery: role ")
    assert "does not exist" in finding.summary and finding.evidence == ["get-role: NoSuchEntity"]
