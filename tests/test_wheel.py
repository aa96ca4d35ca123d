"""The wheel, not the checkout: built without warnings, installed into a fresh venv, ``demo`` runs from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What the build backend says about the project itself (pip's own notes on this machine's indexes are not ours).
BUILD_WARNING = re.compile(r"BuildBackendWarning|DeprecationWarning|deprecated|SetuptoolsWarning", re.IGNORECASE)


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(REPO)])
    assert build.returncode == 0, build.stderr
    assert not BUILD_WARNING.search(build.stdout + build.stderr), build.stdout + build.stderr
    wheel = next((tmp_path / "dist").glob("flowforensics-*.whl"))

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    # Offline and fast: the dependencies come from this test's environment through a plain path entry (a
    # path added by a .pth line has its own .pth files ignored, so the checkout's editable install stays out).
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    install = _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)])
    assert install.returncode == 0, install.stderr

    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")  # the dependencies' data: nbconvert's templates
    where = _run([str(python), "-c", "import flowforensics; print(flowforensics.__file__)"], env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(site), "the wheel's package, not the checkout's"

    demo = _run([str(fresh / "bin" / "flowforensics"), "demo", "--out", str(tmp_path / "demo")], env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    report = Path(demo.stdout.strip().splitlines()[-1])
    assert report.is_file() and report.is_relative_to(tmp_path / "demo")
    assert "permission-missing" in report.read_text(encoding="utf-8")
    assert "Traceback" not in demo.stderr
