"""Notebook setup: the report's styles and plotly.js embedded once; figures as HTML that needs no CDN.

plotly's own ``notebook`` renderer adds a MathJax ``<script src="https://...">`` to every figure and
``notebook_connected`` loads plotly.js from a CDN; a report must render with the network off. So the
setup cell embeds plotly.js once and figures render as a bare ``<div>`` + ``Plotly.newPlot``. (Going
through ``plotly.io.renderers`` at all would also import nbformat's JSON-schema stack, a second of
kernel time.)
"""

from __future__ import annotations

from typing import Any

from flowforensics.presentation.markup import CSS, Html

# Set before plotly.js loads, so that it never looks for MathJax on the network.
PLOTLY_CONFIG_SCRIPT = "<script type='text/javascript'>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def figure_html(fig: Any) -> str:
    """A figure as a ``<div>`` and its script, without plotly.js or MathJax (both must already be there)."""
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        default_width="100%",
        config=PLOTLY_CONFIG,
        validate=False,
    )


def page_setup(embed_plotlyjs: bool = True) -> Html:
    """Prepare a notebook for the report: its styles and plotly.js, once.

    Call it in the first output cell; the figures of :mod:`flowforensics.presentation.plots` then
    render from it (they carry neither plotly.js nor MathJax).

    Parameters
    ----------
    embed_plotlyjs : bool
        Embed plotly.js in the output. The report engine passes False and puts plotly.js in the HTML
        page's head instead, which spares shipping 5 MB through the kernel and the executed notebook.

    Returns
    -------
    Html
        ``<style>``, and ``<script>`` with plotly.js, to be displayed once.
    """
    markup = f"<style type='text/css'>{CSS}</style>"
    if embed_plotlyjs:
        from plotly.offline import get_plotlyjs

        markup += f"{PLOTLY_CONFIG_SCRIPT}<script type='text/javascript'>{get_plotlyjs()}</script>"
    return Html(markup)
