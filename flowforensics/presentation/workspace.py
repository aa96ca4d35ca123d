"""Working copies of the notebooks, where an analyst's JupyterLab opens them (never the installed ones).

Saving a notebook in JupyterLab writes its outputs (megabytes of widget state) beside it, so ``lab``
copies the notebooks into a folder of the analyst's, once: later runs keep the analyst's cells and
outputs. The evidence is set in each copy as papermill sets parameters (an ``injected-parameters``
cell after the ``parameters`` cell), so a copy opens its evidence however it is opened later.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowforensics.errors import EvidenceError
from flowforensics.presentation.report import NOTEBOOKS

# The folder made for the copies: beside the evidence (EVIDENCE-lab), else in the current folder.
LAB_SUFFIX = "-lab"
DEFAULT_WORKDIR = "flowforensics-lab"


def default_workdir(evidence: str | os.PathLike[str] | None) -> Path:
    """Where the working copies go when the user names no folder: ``EVIDENCE-lab`` beside the evidence."""
    if evidence is None:
        return Path.cwd() / DEFAULT_WORKDIR
    path = Path(evidence).resolve()
    return path.parent / f"{path.name}{LAB_SUFFIX}"


def working_copies(workdir: str | os.PathLike[str], evidence: str | os.PathLike[str] | None = None,
                   *, notebooks: Path = NOTEBOOKS) -> list[Path]:
    """Copy the notebooks into ``workdir`` (those not there yet) and set their evidence.

    Parameters
    ----------
    workdir : str or os.PathLike
        The analyst's folder; made if missing. It may not be the installed notebooks' folder.
    evidence : str or os.PathLike, optional
        The evidence folder each copy opens (its absolute path is injected); without it the copies
        keep their own parameters (the sample incident, or the evidence set earlier).
    notebooks : Path
        The installed notebooks.

    Returns
    -------
    list of Path
        The working copies.

    Raises
    ------
    EvidenceError
        When ``workdir`` is the installed notebooks' folder, or cannot be written.
    """
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    folder = Path(workdir).resolve()
    if folder == notebooks.resolve():
        raise EvidenceError(folder, "is the installed notebooks folder: name another --workdir for the working copies")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvidenceError(folder, f"cannot make the working folder ({exc.strerror or exc})") from None
    copies = []
    for installed in sorted(notebooks.glob("*.ipynb")):
        copy = folder / installed.name
        source = copy if copy.is_file() else installed
        if evidence is not None:
            # papermill replaces an earlier injected cell and leaves every other cell as it is.
            notebook = parameterize_notebook(load_notebook_node(str(source)), {"evidence": str(Path(evidence).resolve())},
                                             comment="Set by flowforensics lab")
            nbformat.write(notebook, copy)
        elif not copy.is_file():
            nbformat.write(nbformat.read(installed, as_version=4), copy)
        copies.append(copy)
    return copies
