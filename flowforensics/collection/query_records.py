"""Rows of an Athena or CloudTrail Lake query back into CloudTrail records, as CloudTrail writes them.

Athena's CloudTrail tables lower-case every name (``useridentity.sessioncontext.sessionissuer.arn``)
and keep ``requestparameters`` and its kind as JSON text; CloudTrail Lake keeps camelCase columns and
maps. A row comes back as text per column (:mod:`.trail_sql` selects structs as JSON); here each
column goes back under its record key, struct fields under their CloudTrail names (a table, below),
JSON text back into objects. What the table's schema does not hold (fields CloudTrail added later,
``null`` against absent) cannot come back: a field the query returns as null is left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flowforensics.collection.trail_sql import CLOUDTRAIL_TIME, Column
from flowforensics.evidence.values import parse_time

# Struct fields: lower-cased name -> (CloudTrail's name, the fields inside it). ``None`` inside: a map,
# whose keys are data and stay as they are.
_SESSION_ISSUER = {
    "type": ("type", {}),
    "principalid": ("principalId", {}),
    "arn": ("arn", {}),
    "accountid": ("accountId", {}),
    "username": ("userName", {}),
}
USER_IDENTITY: dict[str, tuple[str, Any]] = {
    "type": ("type", {}),
    "principalid": ("principalId", {}),
    "arn": ("arn", {}),
    "accountid": ("accountId", {}),
    "invokedby": ("invokedBy", {}),
    "accesskeyid": ("accessKeyId", {}),
    "username": ("userName", {}),
    "identityprovider": ("identityProvider", {}),
    "credentialid": ("credentialId", {}),
    "onbehalfof": ("onBehalfOf", {"userid": ("userId", {}), "identitystorearn": ("identityStoreArn", {})}),
    "sessioncontext": (
        "sessionContext",
        {
            "attributes": (
                "attributes",
                {"mfaauthenticated": ("mfaAuthenticated", {}), "creationdate": ("creationDate", {})},
            ),
            "sessionissuer": ("sessionIssuer", _SESSION_ISSUER),
            "ec2roledelivery": ("ec2RoleDelivery", {}),
            "sourceidentity": ("sourceIdentity", {}),
            "webidfederationdata": (
                "webIdFederationData",
                {"federatedprovider": ("federatedProvider", {}), "attributes": ("attributes", None)},
            ),
        },
    ),
}
RESOURCE: dict[str, tuple[str, Any]] = {
    "arn": ("ARN", {}),
    "arnprefix": ("ARNPrefix", {}),
    "accountid": ("accountId", {}),
    "type": ("type", {}),
}
# Record key of a struct column -> its fields (``resources`` is an array of them).
STRUCTS: dict[str, dict[str, tuple[str, Any]]] = {"userIdentity": USER_IDENTITY, "resources": RESOURCE}


def _renamed(value: Any, fields: dict[str, tuple[str, Any]] | None) -> Any:
    """A struct's JSON with CloudTrail's field names, nulls left out; maps and unknown fields as they are."""
    if isinstance(value, list):
        return [_renamed(item, fields) for item in value if item is not None]
    if not isinstance(value, dict) or fields is None:
        return value
    renamed = {}
    for key, item in value.items():
        if item is None:
            continue
        name, inner = fields.get(key.lower(), (key, {}))
        renamed[name] = _renamed(item, inner)
    return renamed


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # kept as the engine returned it: the loader reads strings too


def _map(text: str) -> Any:
    # CloudTrail Lake stores nested objects of requestParameters... as JSON strings inside its maps.
    value = _json(text)
    if isinstance(value, dict):
        return {
            key: _json(item) if isinstance(item, str) and item[:1] in "{[" else item for key, item in value.items()
        }
    return value


def _time(text: str) -> str:
    moment = parse_time(text)
    return f"{moment:{CLOUDTRAIL_TIME}}" if moment is not None else text


def _bool(text: str) -> Any:
    return {"true": True, "false": False}.get(text.lower(), text)


_CONVERT = {"text": str, "json": _json, "map": _map, "time": _time, "bool": _bool}


def to_record(values: dict[str, str | None], columns: Sequence[Column]) -> dict[str, Any]:
    """One result row (column name -> text, ``None`` for NULL) as a CloudTrail record.

    Parameters
    ----------
    values : dict
        The row's values by column name; a name may differ from the column's in case only.
    columns : sequence of Column
        The columns the query selected (:data:`~.trail_sql.ATHENA_COLUMNS` or ``LAKE_COLUMNS``).

    Returns
    -------
    dict
        The record, with CloudTrail's keys; columns that are NULL are left out.
    """
    lowered = {name.lower(): value for name, value in values.items()}
    record: dict[str, Any] = {}
    for column in columns:
        text = lowered.get(column.name.lower())
        if text is None:
            continue
        if column.kind == "struct":
            value = _renamed(_json(text), STRUCTS.get(column.key, {}))
            if value in ({}, [], None) and column.key != "resources":
                continue
        else:
            value = _CONVERT[column.kind](text)
        record[column.key] = value
    return record
