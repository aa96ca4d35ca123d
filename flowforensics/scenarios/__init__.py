"""Sample incidents: deterministic evidence folders of VPC Flow Logs that stop reaching CloudWatch Logs.

Each scenario plays one incident (one per root-cause code of docs/contracts.md) on a simulated account and
writes what collection would have gathered, in the exact shapes AWS returns, through
:class:`~flowforensics.evidence.manifest.EvidenceWriter`. Its :class:`Expected` is what a correct
diagnosis finds; the folders feed ``flowforensics demo`` and the tests of the loader and the diagnosis.

Examples
--------
>>> from flowforensics.scenarios import SCENARIOS, write_scenario
>>> SCENARIOS["permission-removed"].expected.root_cause
'permission-missing'
"""

from __future__ import annotations

import os
from pathlib import Path

from flowforensics.scenarios.incidents import INCIDENTS
from flowforensics.scenarios.model import Expected, Incident, Scenario
from flowforensics.scenarios.world import simulate, write

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Expected", "Scenario", "write_scenario"]

DEFAULT_SCENARIO = "permission-removed"

_INCIDENTS: dict[str, Incident] = {incident.name: incident for incident in INCIDENTS}

SCENARIOS: dict[str, Scenario] = {
    incident.name: Scenario(incident.name, incident.title, incident.description, simulate(incident).expected)
    for incident in INCIDENTS
}


def write_scenario(name: str, folder: str | os.PathLike[str]) -> Path:
    """Write a scenario's evidence folder (bit-for-bit the same on every run).

    Parameters
    ----------
    name : str
        A key of :data:`SCENARIOS`.
    folder : str or os.PathLike
        Where to write; created if missing. It should be empty: files already there would be
        numbered around and the manifest extended.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    KeyError
        When ``name`` is not a scenario (the message lists the names).
    """
    if name not in _INCIDENTS:
        raise KeyError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return write(simulate(_INCIDENTS[name]), folder)
