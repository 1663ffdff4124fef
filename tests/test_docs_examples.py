"""The task pages' examples run as written: every ```sh block of docs/pronunciation.md, with
`edgesay` being the command under test (the package or the binary), in a folder of its own."""

import os
import re
import shlex
import subprocess
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
