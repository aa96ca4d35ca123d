"""An answer is evidence only if it is an answer to the call: anything else (a proxy's HTML page, a body
cut short, a reply missing what the API always returns) is refused before botocore parses it.

botocore reads a JSON body that is not JSON as ``{}``, and XML of the wrong document as an empty
result or a ``KeyError``; either would be saved as evidence that nothing exists. The checks here are
data: per protocol, what a successful body must look like, taken from the botocore service model.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any

import botocore.exceptions

# How much of a refused body the gap quotes: enough to recognise a login page or a truncation.
QUOTED_BYTES = 80


class UnreadableAnswer(botocore.exceptions.BotoCoreError):
    """A successful HTTP status with a body that is not the operation's answer."""

    fmt = "the answer is not {expected} ({reason}; HTTP {status}, {length} bytes, starting {start})"


class IncompleteAnswer(UnreadableAnswer):
    """An answer without a member the service model says every answer has."""

    fmt = "the answer lacks {missing}, which every answer of the operation has"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _json_problem(body: bytes, operation: Any) -> str | None:
    try:
        document = json.loads(body)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return None if isinstance(document, dict) else f"JSON {type(document).__name__}, not an object"


def _xml_problem(body: bytes, operation: Any) -> str | None:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        return f"not XML: {exc}"
    expected = f"{operation.name}Response"
    if _local(root.tag) != expected:
        return f"the document is <{_local(root.tag)}>, not <{expected}>"
    wrapper = operation.output_shape.serialization.get("resultWrapper") if operation.output_shape else None
    if wrapper and not any(_local(child.tag) == wrapper for child in root):
        return f"<{expected}> has no <{wrapper}>"
    return None


def _cbor_problem(body: bytes, operation: Any) -> str | None:
    # A CBOR answer is a map: major type 5 (first byte 0xa0-0xbf); botocore detects the rest.
    return None if body[:1] and 0xA0 <= body[0] <= 0xBF else "not a CBOR map"


# botocore protocol -> (what a successful body is, how to find what is wrong with one).
PROTOCOL_CHECKS: dict[str, tuple[str, Callable[[bytes, Any], str | None]]] = {
    "json": ("a JSON object", _json_problem),
    "rest-json": ("a JSON object", _json_problem),
    "query": ("the operation's XML answer", _xml_problem),
    "ec2": ("the operation's XML answer", _xml_problem),
    "smithy-rpc-v2-cbor": ("a CBOR map", _cbor_problem),
}


def _refuse_garbled(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    status = response_dict.get("status_code", 0)
    if not 200 <= status < 300 or operation_model.has_streaming_output:
        return  # errors go to botocore's error parsing, which makes a ClientError of any body
    protocol = operation_model.service_model.resolved_protocol
    check = PROTOCOL_CHECKS.get(protocol)
    body = response_dict.get("body") or b""
    if check is None:
        return
    expected, problem_of = check
    problem = problem_of(body, operation_model) if body else "empty body"
    if problem:
        raise UnreadableAnswer(
            expected=expected,
            reason=problem,
            status=status,
            length=len(body),
            start=repr(body[:QUOTED_BYTES])[1:],
        )


def install(client: Any) -> None:
    """Make a boto3 client raise :class:`UnreadableAnswer` for a successful answer that is not one.

    The hook runs on ``before-parse`` (after the body is read, before botocore parses it). The
    error is not retried: a proxy's page or a truncated document is recorded as a gap at once.
    """
    client.meta.events.register("before-parse.*.*", _refuse_garbled, unique_id="flowforensics-answers")


def missing_members(client: Any, operation: str, response: dict[str, Any]) -> list[str]:
    """The members the model says every answer of ``operation`` has, missing from ``response``."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    return [name for name in (shape.required_members if shape else []) if name not in response]
