"""Live collection from AWS, read-only, into an evidence folder: the only stage that talks to AWS.

:func:`collect` gathers an investigation's evidence (flow logs, the delivery role and its policies, the
log group and its streams, alarms and metrics, CloudTrail, SCPs, the KMS key policy); :func:`watch`
polls after a fix until delivery resumes. Every client refuses non-read operations before sending
them (:mod:`.readonly`), CloudTrail lookups are paced per account and region (:mod:`.limiter`), and
what could not be read is recorded as a gap in the manifest.
"""

from __future__ import annotations

from flowforensics.collection.recorder import CollectionResult
from flowforensics.collection.runner import collect
from flowforensics.collection.watch import WatchResult, watch

__all__ = ["CollectionResult", "WatchResult", "collect", "watch"]
