"""A CloudTrail archive in AWS's layout, and the same files as the Athena table of AWS's documentation in DuckDB.

The archive holds the real third-party samples and two sample incidents, filed by
``flowforensics.scenarios.cloudtrail.s3_log_files`` as CloudTrail delivers them
(``AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz``, under the delivery day). The DuckDB table
has the columns and struct fields of AWS's DDL ("Create the table for CloudTrail logs in Athena using
partition projection"), lower-cased as Athena's catalog keeps them, plus the partition columns of the
three layouts read from each file's key, as Athena reads them from the S3 location. Each record goes in
as CloudTrail's SerDe puts it: known fields only, ``requestparameters`` and its kind as JSON text.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import duckdb
from sample_paths import SAMPLES

from flowforensics.scenarios.cloudtrail import s3_log_files
from flowforensics.scenarios.incidents import INCIDENTS
from flowforensics.scenarios.world import simulate

SCENARIOS = ("permission-removed", "kms-key-denied")

# Struct fields of AWS's DDL: name -> None (STRING), a dict (STRUCT) or "map" (MAP<STRING,STRING>).
USER_IDENTITY: dict[str, Any] = {
    "type": None,
    "principalid": None,
    "arn": None,
    "accountid": None,
    "invokedby": None,
    "accesskeyid": None,
    "username": None,
    "onbehalfof": {"userid": None, "identitystorearn": None},
    "sessioncontext": {
        "attributes": {"mfaauthenticated": None, "creationdate": None},
        "sessionissuer": {"type": None, "principalid": None, "arn": None, "accountid": None, "username": None},
        "ec2roledelivery": None,
        "webidfederationdata": {"federatedprovider": None, "attributes": "map"},
    },
}
RESOURCE: dict[str, Any] = {"arn": None, "accountid": None, "type": None}
# Column -> its DDL type spec: "string", "json" (a STRING holding JSON), a struct dict or [struct] for an array.
COLUMNS: dict[str, Any] = {
    "eventversion": "string",
    "useridentity": USER_IDENTITY,
    "eventtime": "string",
    "eventsource": "string",
    "eventname": "string",
    "awsregion": "string",
    "sourceipaddress": "string",
    "useragent": "string",
    "errorcode": "string",
    "errormessage": "string",
    "requestparameters": "json",
    "responseelements": "json",
    "additionaleventdata": "json",
    "requestid": "string",
    "eventid": "string",
    "readonly": "string",
    "resources": [RESOURCE],
    "eventtype": "string",
    "apiversion": "string",
    "recipientaccountid": "string",
    "serviceeventdetails": "json",
    "sharedeventid": "string",
    "vpcendpointid": "string",
    "vpcendpointaccountid": "string",
    "eventcategory": "string",
}
PARTITIONS = ("region", "year", "month", "day", "timestamp")


def records() -> list[dict[str, Any]]:
    """Every record of the archive: the stratus-red-team samples and the sample incidents."""
    found: list[dict[str, Any]] = []
    for path in sorted((SAMPLES / "stratus-red-team").glob("*.json")):
        content = json.loads(path.read_text())
        found += content if isinstance(content, list) else content["Records"]
    incidents = {incident.name: incident for incident in INCIDENTS}
    for name in SCENARIOS:
        found += simulate(incidents[name]).records
    # A kept event two minutes before midnight: its file is filed under the next day.
    late = dict(next(r for r in found if r["eventSource"] == "iam.amazonaws.com"))
    late.update(eventTime="2024-09-30T23:58:00Z", eventID="5c1a0e8e-late-4f6e-9b1a-0d0c0b0a0908")
    return [*found, late]


def write_archive(root: Path) -> list[Path]:
    """Write the archive under ``root``; return its files."""
    files = []
    for key, body in s3_log_files(records(), random.Random(10)):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        files.append(path)
    return files


def _type(spec: Any) -> str:
    if spec in ("string", "json", None):
        return "VARCHAR"
    if spec == "map":
        return "MAP(VARCHAR, VARCHAR)"
    if isinstance(spec, list):
        return _type(spec[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{name}" {_type(inner)}' for name, inner in spec.items()) + ")"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def serde(value: Any, spec: Any) -> Any:
    """What CloudTrail's SerDe makes of a record's value for a column or field of type ``spec``."""
    if value is None:
        return None
    if spec == "json":
        return json.dumps(value)
    if spec in ("string", None):
        return _text(value) if not isinstance(value, bool) else str(value).lower()
    if spec == "map":
        return {str(k): _text(v) for k, v in value.items()} if isinstance(value, dict) else None
    if isinstance(spec, list):
        return [serde(item, spec[0]) for item in value] if isinstance(value, list) else None
    if not isinstance(value, dict):
        return None
    lowered = {key.lower(): item for key, item in value.items()}
    return {name: serde(lowered.get(name), inner) for name, inner in spec.items()}


def athena_table(files: list[Path], root: Path, table: str = "cloudtrail.cloudtrail_logs") -> duckdb.DuckDBPyConnection:
    """A DuckDB database holding ``files`` as the Athena table ``table``."""
    schema, name = table.split(".")
    con = duckdb.connect()
    con.execute(f'CREATE SCHEMA "{schema}"')
    columns = [f'"{column}" {_type(spec)}' for column, spec in COLUMNS.items()]
    columns += [f'"{partition}" VARCHAR' for partition in PARTITIONS]
    con.execute(f'CREATE TABLE "{schema}"."{name}" ({", ".join(columns)})')
    names = [*COLUMNS, *PARTITIONS]
    rows = root.parent / f"{root.name}-rows.json"
    with rows.open("w") as out:
        for path in files:
            # AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/file.json.gz
            region, year, month, day = path.relative_to(root).parts[3:7]
            for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
                lowered = {key.lower(): value for key, value in record.items()}
                row = [serde(lowered.get(column), spec) for column, spec in COLUMNS.items()]
                row += [region, year, month, day, f"{year}/{month}/{day}"]
                out.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")
    types = {**{column: _type(spec) for column, spec in COLUMNS.items()}, **dict.fromkeys(PARTITIONS, "VARCHAR")}
    con.execute(
        f'INSERT INTO "{schema}"."{name}" SELECT * FROM read_json(?, format = \'newline_delimited\', columns = {types!r})',
        [str(rows)],
    )
    return con


def as_athena_gives_it_back(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a query of the table can return it: the table's fields only, under the record's own
    names, nulls left out."""
    from flowforensics.collection.trail_sql import ATHENA_COLUMNS

    def keep(value: Any, spec: Any) -> Any:
        if isinstance(spec, list):
            return [keep(item, spec[0]) for item in value]
        if not isinstance(spec, dict):
            return value
        return {
            key: keep(item, spec[key.lower()])
            for key, item in value.items()
            if item is not None and key.lower() in spec
        }

    result = {}
    for column in ATHENA_COLUMNS:
        if record.get(column.key) is not None:
            result[column.key] = keep(record[column.key], COLUMNS[column.name])
    return result
