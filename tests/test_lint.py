"""ruff and mypy, as configured in pyproject.toml, are part of the test run."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff() -> None:
    folders = ["app", "tests", "bench", "build", "models", "examples"]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *folders], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts (pyproject.toml) on the package under `root`/app."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
               "sys.exit(c(['--config', 'pyproject.toml', '--no-cache']))"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root / "app"), "PATH": "/usr/bin:/bin"})


def test_imports_point_down_the_layers() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: the text front end importing the loader (a lower layer
    reaching up) and numpy (forbidden in text/) are both caught."""
    import shutil

    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", "*.edgesay"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    sentences = tmp_path / "app" / "edgesay" / "text" / "sentences.py"
    sentences.write_text(sentences.read_text() + "\nfrom ..loading import lookup  # noqa\nimport numpy  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "edgesay layers BROKEN" in result.stdout
    assert "edgesay.text.sentences -> edgesay.loading.lookup" in result.stdout
    assert "without numpy and onnxruntime BROKEN" in result.stdout
