"""The case-writing scaffolding the three rounds' ``make_cases.py`` share: registry, expectations, files.

Each round's script registers its cases with ``@case``, builds each expectation with ``entry``/``ref``/``window``
and writes its folders through ``write_files``/``write_expected`` and ``write_all``; what differs (the AWS-shaped
records, whether a folder gets a manifest) stays in the round's script.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aws import ACCOUNT, REGION, actor_arn, role_arn, z

# the delivery role and log group every round's cases are built around
ROLE = "FlowLogsDeliveryRole"
LG = "/vpc/flow-logs/prod"

Build = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


def registry() -> tuple[dict[str, Build], Callable[[Build], Build]]:
    """A round's cases, by folder name, and the decorator that adds ``case_c01_x`` as ``c01-x``."""
    cases: dict[str, Build] = {}

    def case(function: Build) -> Build:
        cases[function.__name__.removeprefix("case_").replace("_", "-")] = function
        return function

    return cases, case


def ref(rec: dict[str, Any]) -> dict[str, Any]:
    """What the contract's trigger/recovery must say about a CloudTrail record."""
    return {"event_id": rec["eventID"], "event_name": rec["eventName"], "event_time": rec["eventTime"],
            "actor": actor_arn(rec["userIdentity"])}


def window(not_before: datetime, not_after: datetime) -> dict[str, str]:
    """The times an answer may give, both ends included."""
    return {"not_before": z(not_before), "not_after": z(not_after)}


def entry(flow_log_id: str, status: str, root_cause: str, **fields: Any) -> dict[str, Any]:
    """One expected flow log: the delivery role and group of the account's home region unless ``fields`` say."""
    expected = {"flow_log_id": flow_log_id, "status": status, "root_cause": root_cause, "region": REGION,
                "account_id": ACCOUNT, "role_arn": role_arn(ROLE), "log_group": LG, "trigger": None,
                "recovery": None}
    expected.update(fields)
    return expected


def file_bytes(content: Any) -> bytes:
    """A file's bytes: given as they are, or a JSON document indented as the AWS CLI prints it."""
    return content if isinstance(content, bytes) else (json.dumps(content, indent=2) + "\n").encode()


def fresh(folder: Path) -> None:
    """Empty a case's folder (regenerating never leaves a file of an older run)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def write_files(evidence: Path, files: dict[str, Any]) -> None:
    """Write each file of a hand-filled folder at its relative path."""
    for relative, content in files.items():
        path = evidence / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file_bytes(content))


def write_expected(folder: Path, expected: dict[str, Any]) -> None:
    """Write a case's ``expected.json`` beside (never inside) its evidence."""
    (folder / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


def write_all(cases: dict[str, Build], data: Path,
              write_case: Callable[[str, dict[str, Any], dict[str, Any]], None]) -> None:
    """Build every case and write it, its docstring on one line as the expectation's ``description``.

    Parameters
    ----------
    cases
        The round's registry (see ``registry``).
    data
        The round's ``data/`` folder, named in the closing line.
    write_case
        Writes one case's folder from its name, files and expectation.
    """
    for name, build in cases.items():
        files, expected = build()
        write_case(name, files, {"case": name, "description": " ".join((build.__doc__ or "").split()), **expected})
    print(f"wrote {len(cases)} cases under {data}")
