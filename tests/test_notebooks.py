"""The notebooks in ``notebooks/`` run top to bottom, as a newcomer would run them.

Each notebook is executed with nbclient in a fresh ``python3`` kernel on this interpreter, with
the embedded ``local`` mount in a temporary ``HF3FS_HOME`` (nothing touches the real home), and
the checks the notebooks print are looked for in their outputs. The committed notebooks must
carry no outputs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import hf3fs

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))

# Lines each notebook prints when its checks pass.
EXPECTED = {
    "quickstart.ipynb": [
        "iovec check: 256/256 reads match the file",
        "shared iovec check: the parent sees the worker's data",
        "cleaned up: True",
    ],
    "dataset.ipynb": [
        "coverage: every row exactly once (20,000 of 20,000)",
        "resume: 5,120 rows before + 14,880 after = every row exactly once",
        "readers agree: same rows and token sum",
        "packing check: the first batch is the first documents + EOS, positions restart per piece",
        "mix check: every prefix within one sequence of its share",
        "cleaned up: True",
    ],
}
# Charts (PNG outputs) each notebook draws.
CHARTS = {"quickstart.ipynb": 0, "dataset.ipynb": 4}


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_dist_env: None) -> Path:
    """Environment the kernel inherits (no rank or world size: ``no_dist_env``); returns the
    root of the ``local`` mount."""
    # A python3 kernelspec on this interpreter, found first on JUPYTER_PATH.
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3 (hf3fs tests)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no path-migration warning
    for name, sub in [
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
    ]:
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs

    # hf3fs: the local mount in the temp dir, no user config, the default mount and token.
    home = tmp_path / "hf3fs-home" / "local"
    monkeypatch.setenv("HF3FS_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("HF3FS_CONFIG", "HF3FS_MOUNT", "HF3FS_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    # The kernel imports the same hf3fs as this process (a source tree on PYTHONPATH or the
    # installed wheel).
    package_root = str(Path(hf3fs.__file__).resolve().parent.parent)
    path = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(dict.fromkeys(path)))
    return home


def run_notebook(path: Path, cwd: Path) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}
    )
    start = time.perf_counter()
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    return nb, time.perf_counter() - start


def outputs(nb: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """(all stdout text, the MIME types of every rich output)."""
    text, mimes = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                mimes.extend(out.data)
    return "".join(text), mimes


def test_there_are_notebooks():
    assert set(ALL) == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ALL)
def test_notebook_runs(name: str, kernel_env: Path, tmp_path: Path):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    nb, elapsed = run_notebook(NOTEBOOKS / name, workdir)
    print(f"{name}: {elapsed:.1f} s")
    text, mimes = outputs(nb)
    for line in EXPECTED[name]:
        assert line in text, f"{name} did not print {line!r}; its output:\n{text}"
    assert "MISMATCH" not in text and "FAILED" not in text and "DISAGREE" not in text
    assert mimes.count("image/png") == CHARTS[name]
    # The notebook cleaned up after itself on the mount, and wrote nowhere else.
    assert not kernel_env.exists() or not any(kernel_env.iterdir())
    assert not any(workdir.iterdir())


@pytest.mark.parametrize("name", ALL)
def test_committed_notebook_has_no_outputs(name: str):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} cell {i} has outputs"
            assert cell.execution_count is None, f"{name} cell {i} has an execution count"
