"""flowforensics: forensics for VPC Flow Logs that stop reaching CloudWatch Logs.

The pipeline, one package a stage: :mod:`flowforensics.collection` (boto3, read-only) writes an
evidence folder (:mod:`flowforensics.evidence`), which :func:`load` turns into typed pandas frames
(:mod:`flowforensics.frames`), which :mod:`flowforensics.analysis` diagnoses and
:mod:`flowforensics.presentation` shows.

Heavy libraries (pandas, boto3, plotly) are imported where they are used, so that
``import flowforensics`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flowforensics.frames.evidence import Evidence

__all__ = ["__version__", "load", "collect", "Evidence"]


def load(path: Any, *, strict: bool = False) -> Evidence:
    """Load an evidence folder or file into typed pandas frames.

    Parameters
    ----------
    path : str or os.PathLike
        An evidence folder (any depth, any file names, with or without ``manifest.json``), a
        single ``.json``/``.json.gz``/``.jsonl`` file, or a CloudTrail archive in AWS's layout (an
        ``AWSLogs`` folder, a folder holding only ``AWSLogs/``, or ``s3://bucket/prefix``), of which
        only the events an investigation needs are kept (:mod:`flowforensics.evidence.relevance`).
    strict : bool, default False
        Raise :class:`flowforensics.errors.EvidenceError` on the first file that cannot be read,
        instead of recording it in ``Evidence.problems`` and going on.

    Returns
    -------
    Evidence
        The frames (``events``, ``flow_logs``, ``roles``, ``policies``, ...) and what was skipped.
    """
    from flowforensics.frames.evidence import load_evidence

    return load_evidence(path, strict=strict)


def collect(out: Any, **options: Any) -> Any:
    """Collect evidence from AWS, read-only, into the folder ``out``.

    See :func:`flowforensics.collection.collect` for the options (flow log ids, role names, regions,
    window, profile, endpoint).

    Returns
    -------
    flowforensics.collection.CollectionResult
    """
    from flowforensics.collection import collect as collect_evidence

    return collect_evidence(out, **options)


def __getattr__(name: str) -> Any:
    if name == "Evidence":
        from flowforensics.frames.evidence import Evidence

        return Evidence
    raise AttributeError(name)
