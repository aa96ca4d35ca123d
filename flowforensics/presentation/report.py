"""The report engine: run the investigation notebook with papermill, then export it to one HTML file.

The HTML is self-contained and renders offline: no code cells, plotly.js embedded once (by the
notebook's setup cell), and none of the CDN scripts nbconvert's templates load by default (RequireJS,
MathJax, Mermaid, the widget manager). The ``diagnose --json`` document is written beside it by the
notebook itself, so a pipeline reads the same results the report shows.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowforensics.errors import EvidenceError, FlowForensicsError

# The repository's notebooks/ (a checkout, an editable install), else where a wheel installs them.
NOTEBOOKS = next(
    (
        folder
        for folder in (Path(__file__).resolve().parents[2] / "notebooks", Path(sys.prefix) / "share" / "flowforensics" / "notebooks")
        if folder.is_dir()
    ),
    Path(__file__).resolve().parents[2] / "notebooks",
)
REPORT_NOTEBOOK = NOTEBOOKS / "investigate.ipynb"
# Cells the report leaves out: the notebook's introduction (how to run it) and its parameters.
EXCLUDED_TAGS = frozenset({"report-exclude", "parameters", "injected-parameters"})
# Cells a headless run skips altogether: the interactive explorer (widgets need a live kernel).
INTERACTIVE_TAG = "interactive"
# The kernel's garbage collection thresholds (Python's are 700, 10, 10). A report's kernel makes millions
# of objects in seconds and keeps most (modules, frames, figures): collecting after every 700 new ones
# walked the same long-lived objects over and over, a tenth of its time. Garbage is still collected.
KERNEL_GC_THRESHOLDS = (50_000, 20, 20)
TEMPLATE_NAME = "flowforensics-report.html.j2"
# Where plotly.js goes in the page, until nbconvert is done with it (see :func:`to_html`).
PLOTLY_JS_MARKER = "/*<flowforensics: plotly.js>*/"  # never in evidence text: HTML escapes "<" and ">", JSON too
# The lab template without the blocks that fetch from a CDN at view time, and with plotly.js in the head
# (the notebook is run without embedding it).
TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}
{{ resources.plotly_config_script }}<script type="text/javascript">{{ resources.plotly_js }}</script>
{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
main { max-width: 1280px; margin: 0 auto; padding: 1em 1.5em 3em 1.5em; }
.jp-Cell { padding: 0; }
.jp-OutputArea-output { overflow-x: auto; }
</style>
{%- endblock extra_css -%}
"""


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    html : Path
        The self-contained report.
    notebook : Path
        The executed notebook (kept on failure too, up to the failed cell).
    results : Path
        The ``diagnose --json`` document.
    """

    html: Path
    notebook: Path
    results: Path


def _first_line(source: str) -> str:
    lines = [line.strip() for line in (source or "").splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines[0] if lines else "(empty cell)"


def run_notebook(notebook: Path, output: Path, parameters: dict[str, Any], *, kernel_name: str | None = None) -> Path:
    """Execute a notebook with papermill, injecting ``parameters``, without its ``interactive`` cells.

    Parameters
    ----------
    notebook, output : Path
        The notebook to run and where to write the executed copy.
    parameters : dict
        Values for the ``parameters`` cell (JSON-like).
    kernel_name : str, optional
        A Jupyter kernel; the notebook's own by default.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    FlowForensicsError
        When a cell fails: the message names the cell and the error, and ``output`` holds the notebook
        executed up to that cell.
    """
    import nbformat
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    if not notebook.is_file():
        raise EvidenceError(notebook, "no such notebook")
    output.parent.mkdir(parents=True, exist_ok=True)
    headless = nbformat.read(notebook, as_version=4)
    headless.cells = [cell for cell in headless.cells if INTERACTIVE_TAG not in cell.metadata.get("tags", [])]
    try:
        papermill.execute_notebook(
            headless,
            str(output),
            parameters=parameters,
            kernel_name=kernel_name,
            progress_bar=False,
            # Saving after every cell rewrites plotly.js each time; papermill still saves on failure.
            request_save_on_cell_execute=False,
            cwd=str(output.parent),
            # ipykernel logs to stderr (loopback TCP unencrypted, the interrupt at shutdown): nothing a user can act
            # on. The garbage collector collects in batches (KERNEL_GC_THRESHOLDS), set before the first cell.
            extra_arguments=["--log-level=CRITICAL", f"--IPKernelApp.exec_lines=import gc; gc.set_threshold{KERNEL_GC_THRESHOLDS}"],
            # Every cell has run and its outputs are in: a graceful shutdown (a request, then polling until the
            # kernel exits) would only wait for the kernel's atexit hooks, which the report does not use.
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError as exc:
        raise FlowForensicsError(
            f"{notebook.name}: cell {exc.exec_count} ({_first_line(exc.source)}) failed with "
            f"{exc.ename}: {exc.evalue}; the notebook executed up to it is {output}"
        ) from None
    except NoSuchKernel as exc:
        raise FlowForensicsError(f"{notebook.name}: no Jupyter kernel named {exc.name!r} (install ipykernel)") from None
    return output


def report_exporter() -> Any:
    """The nbconvert exporter of the report, its templates compiled.

    Returns
    -------
    nbconvert.HTMLExporter
        The lab template without CDN scripts, no code cells, the excluded cells and stderr removed.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor
    from nbformat.v4 import new_notebook

    class DropStderr(Preprocessor):  # warnings stay in the executed notebook, not in the report
        def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
            if cell.get("outputs"):
                cell.outputs = [out for out in cell.outputs if not (out.output_type == "stream" and out.name == "stderr")]
            return cell, resources

    exporter = HTMLExporter(
        template_name="lab",
        template_file=TEMPLATE_NAME,
        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        # The notebook is validated once, after the last preprocessor, not after each of the fourteen.
        optimistic_validation=True,
    )
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=set(EXCLUDED_TAGS)), enabled=True)
    exporter.register_preprocessor(DropStderr(), enabled=True)
    # One export of an empty notebook compiles the whole chain of templates (the lab ones this one
    # extends are only loaded at render time) and imports what rendering needs; the environment keeps them.
    exporter.from_notebook_node(new_notebook(), resources={"plotly_js": "", "plotly_config_script": ""})
    return exporter


def to_html(executed: Path, html_path: Path, *, title: str, exporter: Any = None) -> Path:
    """Export an executed notebook to a self-contained HTML report without code, plotly.js in its head.

    Parameters
    ----------
    executed : Path
        The executed notebook.
    html_path : Path
        Where to write the HTML.
    title : str
        The page's ``<title>``.
    exporter : nbconvert.HTMLExporter, optional
        From :func:`report_exporter` (made here by default).

    Returns
    -------
    Path
        ``html_path``.
    """
    import nbformat
    from plotly.offline import get_plotlyjs

    from flowforensics.presentation.page import PLOTLY_CONFIG_SCRIPT

    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.pop("widgets", None)
    notebook.metadata["title"] = title
    # nbconvert parses and re-serialises the whole page with BeautifulSoup: plotly.js (4.6 MB of script it
    # passes through untouched) goes in after, in place of the marker (the page's first script, in its head).
    resources = {"plotly_js": PLOTLY_JS_MARKER, "plotly_config_script": PLOTLY_CONFIG_SCRIPT}
    body, _resources = (exporter or report_exporter()).from_notebook_node(notebook, resources=resources)
    body = body.replace(PLOTLY_JS_MARKER, get_plotlyjs(), 1)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def write_report(
    evidence: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    flow_log_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    notebook: Path = REPORT_NOTEBOOK,
    kernel_name: str | None = None,
) -> ReportFiles:
    """Run the investigation on an evidence folder and write the report, the notebook and the JSON.

    Parameters
    ----------
    evidence : str or os.PathLike
        An evidence folder (or file).
    out : str or os.PathLike
        The folder for ``report.html``, ``report.ipynb`` and ``diagnosis.json``.
    flow_log_id : str, optional
        The flow log to report on; by default the first failing one.
    start, end : str, optional
        The incident window (ISO 8601); by default the extent of the evidence.
    notebook : Path
        The notebook to run (the ``investigate`` notebook by default).
    kernel_name : str, optional
        A Jupyter kernel; the notebook's own by default.

    Returns
    -------
    ReportFiles

    Raises
    ------
    EvidenceError
        When ``evidence`` does not exist.
    FlowForensicsError
        When a cell of the notebook fails (the partial notebook is kept).
    """
    evidence_path = Path(evidence).resolve()
    if not evidence_path.exists():
        raise EvidenceError(evidence_path, "no such file or folder")
    folder = Path(out).resolve()
    files = ReportFiles(folder / "report.html", folder / "report.ipynb", folder / "diagnosis.json")
    parameters = {
        "evidence": str(evidence_path),
        "flow_log_id": flow_log_id,
        "start": start,
        "end": end,
        "results_json": str(files.results),
        "embed_plotlyjs": False,  # to_html puts it in the page's head
    }
    # The exporter's templates compile while the kernel runs the notebook (it waits on the kernel).
    with ThreadPoolExecutor(max_workers=1) as pool:
        exporter = pool.submit(report_exporter)
        run_notebook(notebook, files.notebook, parameters, kernel_name=kernel_name)
        title = f"flowforensics report: {flow_log_id or evidence_path.name}"
        to_html(files.notebook, files.html, title=title, exporter=exporter.result())
    if not files.results.is_file():
        raise FlowForensicsError(f"{notebook.name} ran but did not write {files.results}")
    return files
