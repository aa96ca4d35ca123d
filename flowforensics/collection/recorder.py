"""Every API call of a run goes through here: its response becomes an evidence file, its failure a gap."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.parsers
from botocore import xform_name
from botocore.retries.standard import ThrottledRetryableChecker

from flowforensics.collection import answers
from flowforensics.collection.session import GLOBAL_SERVICE_REGIONS, ClientFactory, credential_problem
from flowforensics.collection.stopping import Stopped
from flowforensics.evidence.manifest import MANIFEST_NAME, EvidenceWriter, dumps, sha256_file

# Failures that are evidence (the caller may not read it, the region is off, the throttle outlasted the
# retries, the endpoint is unreachable, slow or answers garbage, the run stopped): recorded as gaps.
# Anything else is a bug (a refused write, bad parameters) and propagates.
GAP_EXCEPTIONS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ConnectionError,
    botocore.parsers.ResponseParserError,
    answers.UnreadableAnswer,
    Stopped,
)

# AWS error codes -> the gap's kind. "absent" is an answer, not a gap: the resource does not exist
# (the analysis reads it as absence); every other kind means the API could not be read.
ERROR_KINDS: dict[str, str] = {
    **dict.fromkeys(("NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"), "absent"),
    **dict.fromkeys(
        (
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "AuthorizationError",
            "UnauthorizedException",
        ),
        "denied",
    ),
    # botocore's own list of the codes its retries treat as throttling.
    **dict.fromkeys(ThrottledRetryableChecker._THROTTLED_ERROR_CODES, "throttled"),
}
# botocore exceptions -> the gap's kind (the first that matches).
EXCEPTION_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (answers.UnreadableAnswer, "unreadable-answer"),
    (botocore.parsers.ResponseParserError, "unreadable-answer"),
    (botocore.exceptions.ConnectTimeoutError, "timeout"),
    (botocore.exceptions.ReadTimeoutError, "timeout"),
    (botocore.exceptions.ConnectionError, "unreachable"),
    (botocore.exceptions.HTTPClientError, "unreachable"),
)


def gap_kind(exc: Exception) -> str:
    """What kind of gap an exception makes: ``denied``, ``throttled``, ``server-error``, ``credentials``,
    ``unreadable-answer``, ``timeout``, ``unreachable``, ``refused`` (any other AWS error), or ``absent``."""
    if isinstance(exc, botocore.exceptions.ClientError):
        if credential_problem(exc):
            return "credentials"
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return ERROR_KINDS.get(code) or ("server-error" if status >= 500 else "refused")
    return next((kind for cls, kind in EXCEPTION_KINDS if isinstance(exc, cls)), "unreachable")


def canonical(parameters: dict[str, Any]) -> str:
    """Parameters as the manifest records them (times as ISO strings), in a stable key order."""
    return json.dumps(json.loads(dumps(parameters or {})), sort_keys=True)


@dataclass
class CollectionResult:
    """What a collection (or a watch) wrote, like flowlogs-reader's counters.

    Attributes
    ----------
    folder : pathlib.Path
        The evidence folder.
    files, pages, gaps : int
        Evidence files written, API calls made (one a page), API calls that could not be read.
    absent : int
        Calls answered "no such resource" (``NoSuchEntity``...): evidence of absence, listed with the
        gaps in the manifest (``kind: "absent"``) but not counted as gaps.
    kept : int
        Files of an unfinished earlier run into the same folder, kept because their SHA-256 still
        matches the manifest (their calls were not made again).
    replaced : int
        Files of that run that had changed or gone missing, whose calls were made again.
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
    stopped : str or None
        Why the run stopped early (``"interrupted"``, ``"deadline"``, ``"credentials"``), else ``None``.
    resumed : list of str
        What was read on from where an earlier, unfinished run into the folder had stopped (a query's
        results from the page its gap asked for).
    """

    folder: Path
    files: int = 0
    pages: int = 0
    gaps: int = 0
    absent: int = 0
    kept: int = 0
    replaced: int = 0
    events: int = 0
    duplicate_events: int = 0
    flow_logs: int = 0
    regions: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None
    resumed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.folder}: {self.files} files, {self.pages} API pages, {self.gaps_counted}, "
            f"{self.flow_logs} flow logs, {self.events} CloudTrail events, {len(self.regions)} regions"
        )

    def resume_line(self) -> str | None:
        """What an earlier, unfinished run into the folder left that was kept or read on from, or ``None``."""
        if self.resumed:
            return "resumed: " + "; ".join(self.resumed)
        if not (self.kept or self.replaced):
            return None
        line = f"resumed: kept {self.kept} files already collected (SHA-256 matches {MANIFEST_NAME}), not fetched again"
        if self.replaced:
            line += f"; fetched again {self.replaced} that had changed or were missing"
        return line

    def gaps_line(self) -> str:
        """How many gaps, and where they are listed: the last line ``collect`` prints."""
        where = self.folder / MANIFEST_NAME
        if not self.gaps:
            return f"0 gaps: every API call of the run was answered ({where})"
        what = "an API call" if self.gaps == 1 else "API calls"
        return f"{self.gaps_counted} ({what} that could not be read): listed under \"gaps\" in {where}"

    @property
    def gaps_counted(self) -> str:
        """``1 gap``, ``2 gaps``."""
        return f"{self.gaps} gap{'s' if self.gaps != 1 else ''}"


class Recorder:
    """Calls AWS through a :class:`ClientFactory` and writes what it gets through an ``EvidenceWriter``.

    Thread-safe: fleet collection shares one recorder between its region threads. Once the run's
    stop signal (``factory.stop``) is set, no call is made: each becomes a gap saying why; once
    :meth:`finish` has written the manifest, late answers of abandoned calls are dropped.

    Parameters
    ----------
    writer : EvidenceWriter
        The evidence folder.
    factory : ClientFactory
        Clients, guarded read-only.
    resume : bool, default False
        Reuse the files of the folder's manifest whose SHA-256 still matches, instead of calling
        again (an unfinished earlier run of the same collection).
    """

    def __init__(self, writer: EvidenceWriter, factory: ClientFactory, *, resume: bool = False) -> None:
        self.writer = writer
        self.factory = factory
        self.stop = factory.stop
        self.result = CollectionResult(folder=writer.folder)
        # Re-entrant: a collector may write a file and update what refers to it in one step.
        self.lock = threading.RLock()
        self.closed = False
        self.run: dict[str, Any] | None = None  # the manifest's record of this run, set by the runner
        self.on_call: Callable[[str], None] | None = None  # told "operation region" as each call ends
        self._in_flight: dict[int, tuple[str, dict[str, Any], str | None]] = {}
        self._calls = 0
        self._previous: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        if resume and isinstance(writer.manifest.get("runs"), list) and writer.manifest["runs"]:
            # The unfinished run's gaps are this run's to-do list: each call is made again and
            # recorded anew if it fails again. They stay on record with the run that left them.
            writer.manifest["runs"][-1]["superseded_gaps"] = writer.manifest["gaps"]
            writer.manifest["gaps"] = []
        for entry in writer.manifest["files"] if resume else []:
            if isinstance(entry, dict) and isinstance(entry.get("parameters"), dict):
                self._previous.setdefault((entry.get("operation"), entry.get("region")), []).append(entry)

    @staticmethod
    def _manifest_region(service: str, region: str | None) -> str | None:
        return None if service in GLOBAL_SERVICE_REGIONS else region

    def reuse(
        self, operation: str, parameters: dict[str, Any], *, region: str | None, partial: bool = False
    ) -> Any:
        """The content of a file an earlier run collected for this call, if it is intact; else ``None``.

        Parameters
        ----------
        operation, parameters, region
            The call. The latest file of the manifest with the same operation, region and
            parameters matches (with ``partial``, the file's parameters need only include these).
        partial : bool
            For files composed from several calls, whose recorded parameters add what they were
            composed from.

        Returns
        -------
        object or None
            The file's JSON when its SHA-256 matches the manifest (counted in ``kept``); ``None``
            when no file matches, or it changed or is missing (counted in ``replaced``: call again).
        """
        manifest_region = self._manifest_region(operation.partition(":")[0], region)
        wanted = json.loads(canonical(parameters))
        for entry in reversed(self._previous.get((operation, manifest_region), [])):
            recorded = json.loads(canonical(entry["parameters"]))
            if partial:
                recorded = {key: recorded.get(key) for key in wanted}
            if recorded != wanted:
                continue
            path = self.writer.folder / str(entry.get("path", ""))
            try:
                intact = path.resolve().is_relative_to(self.writer.folder.resolve()) and path.is_file()
                content = json.loads(path.read_bytes()) if intact and sha256_file(path) == entry.get("sha256") else None
            except (OSError, ValueError):
                content = None
            with self.lock:
                if content is None:
                    self.result.replaced += 1
                else:
                    self.result.kept += 1
            return content
        return None

    def save(
        self,
        operation: str,
        payload: Any,
        *,
        parameters: dict[str, Any],
        region: str | None,
        name: str | None = None,
    ) -> Path | None:
        """Write one response (or one merged result set) as an evidence file; ``None`` once the manifest is written."""
        service = operation.partition(":")[0]
        if isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if k != "ResponseMetadata"}
        with self.lock:
            if self.closed:
                return None
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
        """Record an API call that could not be read, with the kind of failure (:func:`gap_kind`).

        Credentials refused in the home region stop the run (:attr:`stop`): nothing else could be
        read either, so every later call becomes a gap without being sent.
        """
        if isinstance(exc, Stopped) and self.stop.reason is not None:
            reason = self.stop.reason
            self.note_gap(operation, error_code=reason.code, error_message=f"not attempted: {reason.message}",
                          parameters=parameters, region=region, kind=reason.kind, attempted=False)  # fmt: skip
            return
        service = operation.partition(":")[0]
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code") or "ClientError", error.get("Message") or str(exc)
        else:
            code, message = type(exc).__name__, str(exc)
        kind = gap_kind(exc)
        self.note_gap(operation, error_code=code, error_message=message, parameters=parameters, region=region, kind=kind)
        problem = credential_problem(exc)
        if problem and (service in GLOBAL_SERVICE_REGIONS or region in (None, self.factory.region)):
            self.stop.set("credentials", code, f"{operation}: {problem}")

    def note_gap(
        self,
        operation: str,
        *,
        error_code: str,
        error_message: str,
        parameters: dict[str, Any],
        region: str | None,
        kind: str = "refused",
        attempted: bool = True,
    ) -> None:
        """Record in the manifest something that could not be read, with its error code, message and kind."""
        with self.lock:
            self._note_gap(operation, error_code, error_message, parameters, region, kind, attempted)

    def _note_gap(
        self,
        operation: str,
        error_code: str,
        error_message: str,
        parameters: dict[str, Any],
        region: str | None,
        kind: str,
        attempted: bool,
    ) -> None:
        if self.closed:
            return
        self.writer.record_gap(
            operation,
            error_code=error_code,
            error_message=error_message,
            parameters=parameters,
            region=self._manifest_region(operation.partition(":")[0], region),
            account=self.factory.account,
            kind=kind,
            attempted=attempted,
        )
        if kind == "absent":
            self.result.absent += 1
        else:
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
            Write the result as an evidence file (or, resuming, reuse the intact file of the same
            call); ``False`` for calls whose answer the caller saves in another shape, or only
            steers the collection.

        Returns
        -------
        dict or None
            The response without ``ResponseMetadata``; ``None`` when it became a gap.
        """
        service, _, name = operation.partition(":")
        region = region or self.factory.region
        if save and (kept := self.reuse(operation, parameters, region=region)) is not None:
            return kept
        if self.stop.refuses(operation) and self.stop.reason is not None:
            self.gap(operation, Stopped(message=self.stop.reason.message), parameters=parameters, region=region)
            return None
        client = self.factory.client(service, region)
        method = xform_name(name)
        call = self.waiting(operation, parameters, region)
        try:
            if client.can_paginate(method):
                response = client.get_paginator(method).paginate(**parameters).build_full_result()
            else:
                response = getattr(client, method)(**parameters)
            missing = answers.missing_members(client, name, response)
            if missing:
                raise answers.IncompleteAnswer(missing=", ".join(missing))
        except GAP_EXCEPTIONS as exc:
            self.gap(operation, exc, parameters=parameters, region=region)
            return None
        finally:
            self.answered(call)
            if self.on_call is not None:
                self.on_call(f"{operation} {region}")
        response.pop("ResponseMetadata", None)
        if save:
            self.save(operation, response, parameters=parameters, region=region)
        return response

    def waiting(self, operation: str, parameters: dict[str, Any], region: str | None, *, call: int | None = None) -> int:
        """Note a call waiting for its answer (or, given ``call``, what it now waits for); returns its number.

        Should the run stop before :meth:`answered`, :meth:`finish` records it as a gap with these
        parameters.
        """
        with self.lock:
            if call is None:
                self._calls += 1
                call = self._calls
            self._in_flight[call] = (operation, parameters, region)
        return call

    def answered(self, call: int) -> None:
        """The call numbered ``call`` is no longer waiting."""
        with self.lock:
            self._in_flight.pop(call, None)

    def skip(self, what: str) -> None:
        """Note something deliberately not collected."""
        with self.lock:
            self.result.skipped.append(what)

    def finish(self) -> CollectionResult:
        """Close the manifest and return the counters.

        When the run was stopped, each call still waiting for its answer is recorded as a gap first;
        the manifest records the run (its window, outcome and counts) when the runner described it.
        """
        with self.lock:
            if self.closed:
                return self.result
            reason = self.stop.reason
            if reason is not None:
                for operation, parameters, region in list(self._in_flight.values()):
                    message = f"no answer before the run stopped: {reason.message}"
                    self._note_gap(operation, reason.code, message, parameters, region, reason.kind, True)
                self.result.stopped = reason.kind
            self.result.calls = dict(sorted(self.factory.calls.items()))
            self.result.pages = sum(self.factory.calls.values())
            if self.run is not None:
                self.run.update(
                    outcome=reason.kind if reason else "complete",
                    files=self.result.files,
                    gaps=self.result.gaps,
                    kept=self.result.kept,
                )
                self.writer.manifest.setdefault("runs", []).append(self.run)
            self.closed = True
            self.writer.close()
        return self.result
