"""Where a notebook's evidence comes from: a folder given, a live collection, or the sample incident.

The notebooks' parameters default to ``None`` so that they run as they are (nbval, a first look):
then the default sample incident is written to a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError

# Set by ``flowforensics lab EVIDENCE`` so that the notebooks open on that folder.
EVIDENCE_ENV = "FLOWFORENSICS_EVIDENCE"


def evidence_folder(
    evidence: str | os.PathLike[str] | None = None,
    *,
    flow_log_id: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    start: Any = None,
    end: Any = None,
    scenario: str | None = None,
) -> Path:
    """Resolve a notebook's evidence parameters to an evidence folder.

    Parameters
    ----------
    evidence : str or os.PathLike, optional
        An evidence folder or file; used as it is when given.
    flow_log_id, profile, region, start, end : optional
        Live collection: when ``evidence`` is None and a profile or region is given, collect (read-only)
        the flow log (or, without one, every failing flow log) into a new temporary folder.
    scenario : str, optional
        The sample incident written when there is neither evidence nor live settings (nor
        ``$FLOWFORENSICS_EVIDENCE``); :data:`flowforensics.scenarios.DEFAULT_SCENARIO` by default.

    Returns
    -------
    pathlib.Path
        The evidence folder.

    Raises
    ------
    EvidenceError
        When ``evidence`` does not exist.
    CollectionError
        When live collection cannot start (credentials, region).
    """
    if evidence is None and not (profile or region):
        evidence = os.environ.get(EVIDENCE_ENV) or None
    if evidence is not None:
        path = Path(evidence).expanduser()
        if not path.exists():
            raise EvidenceError(path, "no such file or folder")
        return path
    if profile or region:
        from flowforensics.collection import collect

        out = Path(tempfile.mkdtemp(prefix="flowforensics-evidence-"))
        return Path(
            collect(
                out,
                flow_log_ids=[flow_log_id] if flow_log_id else (),
                all_flow_logs=not flow_log_id,
                profile=profile,
                region=region,
                start=start,
                end=end,
            ).folder
        )
    from flowforensics.scenarios import DEFAULT_SCENARIO, write_scenario

    name = scenario or DEFAULT_SCENARIO
    return write_scenario(name, Path(tempfile.mkdtemp(prefix=f"flowforensics-{name}-")))
