"""Policy documents before and after a change, as unified diffs and as one line for a hover."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flowforensics.evidence import values
from flowforensics.presentation.markup import text, when

ABSENT = "(no policy)"  # the document did not exist on that side (created, deleted)
NOT_IN_EVIDENCE = "(not in the evidence)"  # a hole in the history, never guessed
ONE_LINE_WIDTH = 240


def render_document(document: Any) -> list[str]:
    """A policy document as the stable lines a diff compares (sorted keys, two-space indent).

    Parameters
    ----------
    document : dict, str, None or any other value
        An object, a JSON or URL-encoded JSON string, ``None`` (no policy) or a value that stands
        for a document the evidence does not show.
    """
    if document is None:
        return [ABSENT]
    if isinstance(document, str):
        from flowforensics.evidence.values import parse_document

        try:
            document = parse_document(document)
        except ValueError:
            return document.splitlines()
    if not isinstance(document, (dict, list)):
        return [NOT_IN_EVIDENCE]
    return json.dumps(document, indent=2, sort_keys=True, default=str).splitlines()


def _clean(line: str) -> str:
    return line.strip().rstrip(",").replace('"', "")


@dataclass(frozen=True)
class PolicyDiff:
    """One change to a policy: its documents before and after, and the diff between them.

    Attributes
    ----------
    label : str
        What changed, e.g. ``PutRolePolicy flowlogs-delivery (inline) on role vpc-flow-logs``.
    before, after : object
        The documents (``None`` where there was none).
    event_id : str or None
        The CloudTrail event that made the change (what a timeline marker carries), when known.
    """

    label: str
    before: Any
    after: Any
    event_id: str | None = None

    @property
    def lines(self) -> list[str]:
        """The unified diff, line by line (no trailing newlines)."""
        return list(
            difflib.unified_diff(
                render_document(self.before), render_document(self.after), "before", "after", lineterm="", n=3
            )
        )

    @property
    def unified(self) -> str:
        """The unified diff as text; empty when the documents are the same."""
        return "\n".join(self.lines)

    @property
    def one_line(self) -> str:
        """The change in one line, for hover text and tables: ``-logs:PutLogEvents; +...``."""
        if self.before is None and self.after is not None:
            return "policy created"
        if self.after is None and self.before is not None:
            return "policy removed"
        changed = [
            line[0] + _clean(line[1:])
            for line in self.lines
            if line[:1] in "+-" and not line.startswith(("+++", "---")) and _clean(line[1:]) not in ("", "{", "}", "[", "]")
        ]
        if not changed:
            return "no change to the document"
        summary = "; ".join(changed)
        return summary if len(summary) <= ONE_LINE_WIDTH else summary[: ONE_LINE_WIDTH - 1] + "\u2026"

    def _repr_html_(self) -> str:
        styles = {"+": "ff-add", "-": "ff-del", "@": "ff-hunk"}
        body = "".join(
            f"<span class='{styles[line[0]]}'>{text(line)}</span>" if line[:1] in styles and not line.startswith(("+++", "---"))
            else f"{text(line)}\n"
            for line in self.lines
        )
        return f"<div><b>{text(self.label)}</b><pre class='ff-diff'>{body or text('no change')}</pre></div>"


def role_documents(snapshot: Any) -> dict[str, Any]:
    """A role state's documents by name: the trust policy, each identity policy, the boundary, each SCP.

    Parameters
    ----------
    snapshot : flowforensics.analysis.history.RoleSnapshot
        One state of the role's history (documents the evidence does not show are ``UNKNOWN``).
    """
    role = snapshot.role
    documents: dict[str, Any] = {}
    if role.exists:
        documents["trust policy"] = role.trust_policy
        documents.update({f"policy {label}": document for label, document in snapshot.identity_policies()})
        documents["permissions boundary"] = snapshot.boundary()
    documents.update({f"SCP {policy_id}": document for policy_id, document in snapshot.scps()})
    return documents


def history_diffs(history: Any, event_ids: Collection[str] | None = None) -> list[PolicyDiff]:
    """Every document a change of the role's history changed, before and after.

    Parameters
    ----------
    history : flowforensics.analysis.history.RoleHistory
        The role's replayed history.
    event_ids : collection of str, optional
        Only the changes made by these events (e.g. those of a window of the timeline).

    Returns
    -------
    list of PolicyDiff
        Oldest first; one per document changed (deleting a role changes all of them).
    """
    diffs = []
    for before, after in zip(history.snapshots, history.snapshots[1:], strict=False):
        if after.event_id is None or (event_ids is not None and after.event_id not in event_ids):
            continue
        old, new = role_documents(before), role_documents(after)
        for name in dict.fromkeys([*old, *new]):
            if old.get(name) is new.get(name) or old.get(name) == new.get(name):
                continue
            label = f"{when(after.start)}  {after.event_name} by {values.text(after.actor) or 'unknown'}: {name}"
            diffs.append(PolicyDiff(label=label, before=old.get(name), after=new.get(name), event_id=after.event_id))
    return diffs
