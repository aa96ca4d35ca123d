"""Every API call of a run goes through here: its response becomes an evidence file, its failure a gap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.parsers
from botocore import xform_name

from flowforensics.collection.session import GLOBAL_SERVICE_REGIONS, ClientFactory, credential_problem
from flowforensics.errors import CollectionError
from flowforensics.evidence.manifest import EvidenceWriter

# Failures that are evidence (the caller may not read it, the region is off, the throttle outlasted the
# retries, the endpoint is unreachable or answers garbage): recorded as gaps. Anything else is a bug
# (a refused write, bad parameters) and propagates.
GAP_EXCEPTIONS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ConnectionError,
    botocore.parsers.ResponseParserError,
)


@dataclass
class CollectionResult:
    """What a collection (or a watch) wrote, like flowlogs-reader's counters.

    Attributes
    ----------
    folder : pathlib.Path
        The evidence folder.
    files, pages, gaps : int
        Evidence files written, API calls made (one a page), APIs that could not be read.
    events : int
        Distinct CloudTrail events collected.
    duplicate_events : int
        Events returned by more than one lookup and written once.
    flow_logs : int
        Flow logs described.
    regions : list of str
        Regions visited.
    skipped : list of str
        What was deliberately not collected, and why.
    calls : dict
        API calls per IAM action, e.g. ``{"cloudtrail:LookupEvents": 12}``.
    """

    folder: Path
    files: int = 0
    pages: int = 0
    gaps: int = 0
    events: int = 0
    duplicate_events: int = 0
    flow_logs: int = 0
    regions: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.folder}: {self.files} files, {self.pages} API pages, {self.gaps} gaps, "
            f"{self.flow_logs} flow logs, {self.events} CloudTrail events, {len(self.regions)} regions"
        )


class Recorder:
    """Calls AWS through a :class:`ClientFactory` and writes what it gets through an ``EvidenceWriter``.

    Thread-safe: fleet collection shares one recorder between its region threads.

    Parameters
    ----------
    writer : EvidenceWriter
        The evidence folder.
    factory : ClientFactory
        Clients, guarded read-only.
    """

    def __init__(self, writer: EvidenceWriter, factory: ClientFactory) -> None:
        self.writer = writer
        self.factory = factory
        self.result = CollectionResult(folder=writer.folder)
        self.lock = threading.Lock()

    @staticmethod
    def _manifest_region(service: str, region: str | None) -> str | None:
        return None if service in GLOBAL_SERVICE_REGIONS else region

    def save(
        self,
        operation: str,
        payload: Any,
        *,
        parameters: dict[str, Any],
        region: str | None,
        name: str | None = None,
    ) -> Path:
        """Write one response (or one merged result set) as an evidence file."""
        service = operation.partition(":")[0]
        if isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k != "ResponseMetadata"}
        with self.lock:
            path = self.writer.write(
                operation,
                payload,
                parameters=parameters,
                region=self._manifest_region(service, region),
                account=self.factory.account,
                name=name,
            )
            self.result.files += 1
        return path

    def gap(self, operation: str, exc: Exception, *, parameters: dict[str, Any], region: str | None) -> None:
        """Record an API that could not be read.

        Raises
        ------
        CollectionError
            When the error says the credentials are unusable in the home region: nothing else
            could be read either.
        """
        service = operation.partition(":")[0]
        problem = credential_problem(exc)
        home = service in GLOBAL_SERVICE_REGIONS or region in (None, self.factory.region)
        if problem and home:
            raise CollectionError(f"{operation}: {problem}") from None
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "ClientError"), error.get("Message", str(exc))
        else:
            code, message = type(exc).__name__, str(exc)
        self.note_gap(operation, error_code=code, error_message=message, parameters=parameters, region=region)

    def note_gap(
        self,
        operation: str,
        *,
        error_code: str,
        error_message: str,
        parameters: dict[str, Any],
        region: str | None,
    ) -> None:
        """Record in the manifest something that could not be read, with its error code and message."""
        with self.lock:
            self.writer.record_gap(
                operation,
                error_code=error_code,
                error_message=error_message,
                parameters=parameters,
                region=self._manifest_region(operation.partition(":")[0], region),
                account=self.factory.account,
            )
            self.result.gaps += 1

    def fetch(
        self,
        operation: str,
        parameters: dict[str, Any],
        *,
        region: str | None = None,
        save: bool = True,
    ) -> dict[str, Any] | None:
        """Call one operation, all its pages merged as the AWS CLI merges them, and write the result.

        Parameters
        ----------
        operation : str
            ``service:OperationName``.
        parameters : dict
            The call's parameters (also recorded in the manifest).
        region : str, optional
            The region; the run's default when omitted.
        save : bool, default True
            Write the result as an evidence file; ``False`` for calls whose answer only steers the
            collection (their shapes are not evidence the loader reads).

        Returns
        -------
        dict or None
            The response without ``ResponseMetadata``; ``None`` when it became a gap.
        """
        service, _, name = operation.partition(":")
        region = region or self.factory.region
        client = self.factory.client(service, region)
        method = xform_name(name)
        try:
            if client.can_paginate(method):
                response = client.get_paginator(method).paginate(**parameters).build_full_result()
            else:
                response = getattr(client, method)(**parameters)
        except GAP_EXCEPTIONS as exc:
            self.gap(operation, exc, parameters=parameters, region=region)
            return None
        response.pop("ResponseMetadata", None)
        if save:
            self.save(operation, response, parameters=parameters, region=region)
        return response

    def skip(self, what: str) -> None:
        """Note something deliberately not collected."""
        with self.lock:
            self.result.skipped.append(what)

    def finish(self) -> CollectionResult:
        """Close the manifest and return the counters."""
        with self.lock:
            self.writer.close()
            self.result.calls = dict(sorted(self.factory.calls.items()))
            self.result.pages = sum(self.factory.calls.values())
        return self.result
