"""The task pages' examples run as written: every ```sh block of docs/pronunciation.md, with
`edgesay` being the command under test (the package or the binary), in a folder of its own."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLI, ROOT

PAGES = ["docs/pronunciation.md"]


def blocks(page: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("page", PAGES)
def test_every_shell_example_runs(page: str, tmp_path: Path) -> None:
    found = blocks(page)
    assert found, f"{page} has no sh examples"
    shim = tmp_path / "bin" / "edgesay"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexec {shlex.join(CLI)} \"$@\"\n")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"}
    for block in found:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{block}\n{result.stderr}"
    wavs = sorted(p.name for p in tmp_path.glob("*.wav"))
    assert wavs and all((tmp_path / w).stat().st_size > 10_000 for w in wavs), wavs


def markdown_files() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "models" / "README.md"]
    return pages + sorted((ROOT / "docs").rglob("*.md"))


def test_every_relative_link_resolves() -> None:
    """A link in the README or a task page that names a file or folder of the repository finds it."""
    broken = []
    for page in markdown_files():
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, or a heading of the same page
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_readme_is_a_front_door() -> None:
    """Short, the two commands CI and a newcomer run, and no run logs."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    assert "bash tests/run.sh" in text and "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e . && edgesay --text "Hello from your Raspberry Pi." -o hello.wav' in text
    assert len(re.findall(r"20\d\d-\d\d-\d\d", text)) <= 1  # the one current figure's date


def test_benchmarks_page_is_generated() -> None:
    """docs/benchmarks.md is what bench/tables.py makes of bench/results/, never edited by hand."""
    result = subprocess.run([sys.executable, "bench/tables.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_cache_rule_is_the_one_the_code_follows() -> None:
    """docs/cli.md states the cache folder's rule as system/paths.CACHE_RULE words it (--help
    prints the same words; the binary's bootstrap follows it in C, tested in test_binary.py)."""
    from edgesay.system.paths import CACHE_RULE

    assert CACHE_RULE in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
