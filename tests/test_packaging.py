"""pyproject.toml and environment.yml name the same dependencies; the README gives the two commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ; extras and server deps are conda packages of their own.
CONDA_NAMES = {"moto[server]": "moto", "isal": "python-isal"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0].strip().lower()


def test_environment_yml_names_every_dependency_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    environment = (REPO / "environment.yml").read_text()
    conda = {_name(line.strip()[2:]) for line in environment.splitlines() if line.startswith("  - ") and not line.strip().startswith("- pip")}
    for requirement in wanted:
        name = _name(requirement)
        assert CONDA_NAMES.get(name, name) in conda, f"{name} is in pyproject.toml but not environment.yml"
    assert "  - python=3.11\n" in environment


def test_readme_starts_with_the_two_commands():
    head = (REPO / "README.md").read_text().splitlines()[:6]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_ci_runs_the_readme_test_command():
    lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[-1] == "make test"
