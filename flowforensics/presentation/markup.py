"""Escaped HTML fragments: the only way presentation code turns evidence into markup.

Evidence is hostile (a user agent or a policy name can be ``<script>...``), so fragments are built
from :func:`text` (escaped) and :func:`table` (pandas with ``escape=True``), never by pasting raw
strings into markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The report's look: short, scoped to ff- classes so it cannot restyle JupyterLab itself.
CSS = """
.ff-title { margin: 0 0 .2em 0; font-size: 1.7em; }
.ff-subtitle { color: #555; margin: 0 0 1em 0; }
.ff-summary { border: 2px solid #7f8c8d; border-radius: 6px; padding: .6em 1em; margin: .5em 0 1em 0;
              background: #f4f6f6; max-width: 1100px; }
/* One colour per state (Okabe-Ito, colour-blind safe); the state word says it in print too. */
.ff-summary.ff-state-failing { border-color: #d55e00; background: #fdf1ea; }
.ff-summary.ff-state-at-risk { border-color: #e69f00; background: #fdf6e6; }
.ff-summary.ff-state-recovered, .ff-summary.ff-state-healthy { border-color: #009e73; background: #eaf7f2; }
.ff-state { margin: 0 0 .5em 0; font-size: 1.15em; }
.ff-state-word { display: inline-block; padding: .1em .6em; margin-right: .5em; border-radius: 4px; color: white;
                 background: #7f8c8d; font-weight: bold; text-transform: uppercase; letter-spacing: .04em; }
.ff-state-failing .ff-state-word { background: #d55e00; }
.ff-state-at-risk .ff-state-word { background: #e69f00; color: black; }
.ff-state-recovered .ff-state-word, .ff-state-healthy .ff-state-word { background: #009e73; }
.ff-summary h3 { margin: 0 0 .2em 0; font-size: 1.05em; }
.ff-summary pre.ff-fix { margin: .1em 0; }
pre.ff-change { white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; margin: .1em 0; font-size: .85em; background: none !important;
                font-family: SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace !important; }
.ff-summary table, .ff-table { border-collapse: collapse; margin: .3em 0 .8em 0; }
/* The card's table is as wide as the card: its columns do not grow with an ARN, which wraps where the
   line ends instead (a word that fits a line is never broken). */
.ff-summary table { table-layout: fixed; width: 100%; }
.ff-summary th { text-align: left !important; padding: .15em 1em .15em 0; vertical-align: top; white-space: nowrap;
                 width: 12em; }
.ff-summary td { text-align: left !important; padding: .15em 0; vertical-align: top; overflow-wrap: break-word; }
.ff-table th, .ff-table td { border: 1px solid #d0d7de; padding: .25em .5em; text-align: left !important;
                             vertical-align: top; font-size: .92em; }
.ff-table th { background: #f3f5f7; }
/* Words never break inside (no "confirme/d"): a table wider than the page scrolls inside its own box. */
.ff-table td { max-width: 60em; overflow-wrap: normal; word-break: normal; }
.ff-table th { white-space: nowrap; }
.ff-scroll { overflow-x: auto; max-width: 100%; }
pre.ff-code { background: #f6f8fa !important; border: 1px solid #d0d7de !important; border-radius: 4px;
              padding: .5em .8em !important; overflow-x: auto; font-size: .85em; white-space: pre-wrap;
              overflow-wrap: break-word; word-break: normal;
              font-family: SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace !important; }
pre.ff-diff { background: #fbfbfb !important; border: 1px solid #d0d7de !important; border-radius: 4px;
              padding: .4em .8em !important; font-size: .85em; white-space: pre; overflow-x: auto; margin: .2em 0 1em 0;
              word-break: normal;
              font-family: SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace !important; }
.ff-diff .ff-add { background: #e6ffec; color: #116329; display: block; }
.ff-diff .ff-del { background: #ffebe9; color: #82071e; display: block; }
.ff-diff .ff-hunk { color: #6f42c1; display: block; }
.ff-muted { color: #666; }
.ff-technique { color: #d55e00; font-weight: bold; white-space: nowrap; }
.ff-confirmed { color: #c0392b; font-weight: bold; white-space: nowrap; }
.ff-ruled_out { color: #27ae60; white-space: nowrap; }
.ff-inconclusive { color: #b9770e; white-space: nowrap; }
"""

MISSING = "\u2014"  # shown in prose for a value the evidence does not have
BLANK = ""  # shown in a table's cell for a value the evidence does not have


@dataclass(frozen=True)
class Html:
    """An HTML fragment that Jupyter, nbconvert and ipywidgets display as it is.

    Build it only from escaped pieces (:func:`text`, :func:`table`, :func:`code`).
    """

    markup: str

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup

    def __add__(self, other: Html) -> Html:
        return Html(self.markup + other.markup)


def is_missing(value: Any) -> bool:
    """Whether a value is None, NaN, NaT or pandas' NA."""
    if value is None:
        return True
    if isinstance(value, str):  # most of what a report shows, and never missing: spares pandas' checks
        return False
    import pandas as pd

    missing = pd.isna(value)
    # Lists and arrays give an array of answers: a container is a value, not a missing one.
    return bool(missing) if getattr(missing, "ndim", 0) == 0 else False


def when(value: Any) -> str:
    """A time as a reader sees it: ``2025-03-04 10:05:12 UTC`` (not escaped: it is not evidence text)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, str):
        from flowforensics.evidence.values import parse_time

        parsed = parse_time(value)
        return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def text(value: Any) -> str:
    """Escape any value for HTML (times formatted, missing values as a dash; a lone surrogate, JSON's
    ``"\\ud800"``, which UTF-8 cannot write, as that escape)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, datetime):
        return when(value)
    return html.escape(str(value).encode("utf-8", "backslashreplace").decode(), quote=True)


def code(value: str, css_class: str = "ff-code") -> Html:
    """A preformatted block (commands, JSON documents), escaped."""
    return Html(f"<pre class='{css_class}'>{text(value)}</pre>")


def heading(value: str, level: int = 3) -> Html:
    """An escaped heading."""
    return Html(f"<h{level}>{text(value)}</h{level}>")


def paragraph(value: str, css_class: str | None = None) -> Html:
    """An escaped paragraph."""
    attribute = f" class='{css_class}'" if css_class else ""
    return Html(f"<p{attribute}>{text(value)}</p>")


def bullets(items: Iterable[Any]) -> Html:
    """An escaped bullet list."""
    return Html("<ul>" + "".join(f"<li>{text(item)}</li>" for item in items) + "</ul>")


def local_path(value: Any, root: Any = None) -> Any:
    """A string with the evidence folder ``root`` taken out of the paths in it (relative to the folder).

    The report is read by others than the analyst who made it: their machine's folders mean nothing
    there, and the folder's own layout (``cloudtrail/us-east-1/...``) is what an auditor re-checks.
    """
    if root is None or not isinstance(value, str):
        return value
    folder = str(root).rstrip("/\\")
    return value.replace(folder + "/", "").replace(folder + "\\", "").replace(folder, ".")


def cell(value: Any, root: Any = None) -> str:
    """The display text of a table's cell (not escaped): times in UTC, missing values blank, paths local."""
    if is_missing(value):
        return BLANK
    if isinstance(value, datetime):
        return when(value).replace(" ", "\u00a0")  # a time is one word in a table: it never wraps
    return local_path(str(value), root)


def scroll(markup: Html) -> Html:
    """A fragment in a box of its own that scrolls sideways when it is wider than the page."""
    return Html(f"<div class='ff-scroll'>{markup.markup}</div>")


def key_values(rows: Sequence[tuple[str, Any]], *, root: Any = None) -> Html:
    """A two-column table of labels and escaped values (missing ones blank, paths local to ``root``)."""
    body = "".join(f"<tr><th>{text(k)}</th><td>{text(cell(v, root))}</td></tr>" for k, v in rows)
    return scroll(Html(f"<table class='ff-table'>{body}</table>"))


def table(
    frame: Any, columns: Sequence[str] | None = None, *, empty: str = "none", max_rows: int = 200, root: Any = None
) -> Html:
    """Render a DataFrame as an escaped HTML table with UTC times.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame; JSON cells are shown as their text.
    columns : sequence of str, optional
        The columns to show, in order; all by default.
    empty : str
        What to say when there are no rows.
    max_rows : int
        Rows shown at most; the rest are counted.
    root : str or os.PathLike, optional
        The evidence folder: paths under it are shown relative to it.
    """
    if columns is not None:
        frame = frame.loc[:, list(columns)]
    if not len(frame):
        return paragraph(empty, "ff-muted")
    # Cells become display text first: pandas shows a missing string as "<NA>" whatever na_rep says.
    shown = frame.head(max_rows).astype(object).map(lambda value: cell(value, root))
    markup = scroll(Html(shown.to_html(index=False, escape=True, border=0, classes="ff-table")))
    if len(frame) > max_rows:
        markup = markup + Html(f"<p class='ff-muted'>... and {len(frame) - max_rows} more rows</p>")
    return markup
