"""How long ``diagnose`` takes on ~50,000 CloudTrail events, against loading the same evidence.

A sample incident is written, then ~50,000 unrelated records (the incident's own background calls,
re-issued under new ids and other role names) are added as one CloudTrail log file. Loading the
folder is the baseline measured in the same run; the ratio is what to watch (seconds, not minutes:
the diagnosis filters events before replaying and evaluates each distinct role state once).

Run: ``.venv/bin/python benchmarks/diagnose_50k_events.py [TARGET_EVENTS]``
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import flowforensics
from flowforensics.analysis.diagnosis import diagnose
from flowforensics.analysis.timeline import timeline
from flowforensics.scenarios import SCENARIOS, write_scenario

SCENARIO = "permission-removed"


def _noise(records: list[dict], target: int) -> list[dict]:
    out = []
    while len(out) < target:
        for record in records:
            clone = copy.deepcopy(record)
            clone["eventID"] = str(uuid.uuid4())
            request = clone.get("requestParameters")
            if isinstance(request, dict) and "roleName" in request:
                request["roleName"] = f"noise-role-{len(out) % 500}"
            out.append(clone)
            if len(out) >= target:
                break
    return out


def main(target: int = 50_000) -> None:
    folder = Path(tempfile.mkdtemp()) / SCENARIO
    write_scenario(SCENARIO, folder)
    evidence = flowforensics.load(folder)
    records = list(evidence.events["record"])
    (folder / "noise").mkdir()
    (folder / "noise" / "cloudtrail.json").write_text(json.dumps({"Records": _noise(records, target)}))

    started = time.perf_counter()
    evidence = flowforensics.load(folder)
    loaded = time.perf_counter() - started

    started = time.perf_counter()
    result = diagnose(evidence, SCENARIOS[SCENARIO].expected.flow_log_id)
    diagnosed = time.perf_counter() - started

    started = time.perf_counter()
    timeline(evidence)
    lined_up = time.perf_counter() - started

    entry = result.flow_logs[0]
    print(f"events: {len(evidence.events)}; root cause {entry.root_cause}, trigger {entry.trigger and entry.trigger.event_id}")
    print(f"load (baseline): {loaded:.2f} s")
    print(f"diagnose: {diagnosed:.2f} s = {diagnosed / loaded:.2f} x load")
    print(f"timeline: {lined_up:.2f} s = {lined_up / loaded:.2f} x load")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
