"""SQL over the evidence frames with DuckDB: every frame a table, JSON columns as JSON text.

JSON cells (request parameters, policy documents, whole records) are Python objects in the frames;
DuckDB gets them as JSON text so ``json_extract`` and ``->>`` work on them.
"""

from __future__ import annotations

import json
from typing import Any

from flowforensics.evidence.records import JsonObject
from flowforensics.frames.schema import JSON, SCHEMAS


def _json_default(value: Any) -> Any:
    # The events' record, request and response columns hold JSON text behind a read-only mapping.
    return value.to_dict() if isinstance(value, JsonObject) else str(value)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default, sort_keys=True)


def sql_ready(name: str, frame: Any) -> Any:
    """A copy of a frame that DuckDB reads well: JSON columns as JSON text (a DuckDB ``JSON`` cast is then free).

    Parameters
    ----------
    name : str
        The frame's name in :data:`flowforensics.frames.schema.SCHEMAS` (others are passed through).
    frame : pandas.DataFrame
    """
    schema = SCHEMAS.get(name, {})
    converted = frame.copy()
    for column, (dtype, _meaning) in schema.items():
        if dtype == JSON and column in converted:
            converted[column] = converted[column].map(_json_text).astype("string")
    return converted


def connect(frames: Any, *, database: str = ":memory:") -> Any:
    """A DuckDB connection with a table (a view on a pandas frame) per evidence frame.

    Parameters
    ----------
    frames : Evidence or mapping of str to DataFrame
        An :class:`flowforensics.frames.evidence.Evidence` (its ``frames``) or frames by name, e.g.
        with the analysis frames ``timeline``, ``verdicts`` and ``failure_windows`` added.
    database : str
        DuckDB database; in memory by default.

    Returns
    -------
    duckdb.DuckDBPyConnection
        ``con.sql("select ...").df()`` gives a DataFrame.
    """
    import duckdb

    named = frames.frames if hasattr(frames, "frames") else dict(frames)
    con = duckdb.connect(database)
    for name, frame in named.items():
        con.register(name, sql_ready(name, frame))
    return con


def sql(frames: Any, query: str) -> Any:
    """Run one SQL query over the evidence frames and return the result as a DataFrame.

    Parameters
    ----------
    frames : Evidence or mapping of str to DataFrame
        As for :func:`connect`.
    query : str
        DuckDB SQL; tables are the frames' names (``events``, ``flow_logs``, ``roles``...).

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> sql(evidence, "select event_name, count(*) n from events group by 1 order by n desc")  # doctest: +SKIP
    """
    con = connect(frames)
    try:
        return con.sql(query).df()
    finally:
        con.close()


def tables(frames: Any) -> Any:
    """The tables :func:`connect` registers, with their row counts and columns."""
    import pandas as pd

    named = frames.frames if hasattr(frames, "frames") else dict(frames)
    return pd.DataFrame(
        [{"table": name, "rows": len(frame), "columns": ", ".join(map(str, frame.columns))} for name, frame in named.items()]
    )
