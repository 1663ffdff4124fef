"""Instructions a Raspberry Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76) execute to speak the shared
sentences, counted under qemu-aarch64 on this machine: Piper 1.8.0 and every edgesay level, per
second of speech, per stage of edgesay's engine and (with --libraries) per library.

A count is a model of work, not a time: qemu has no caches, no pipeline widths and no memory
system, so two engines that execute the same instructions may still run at different speeds on
the board. It is deterministic (the same work gives the same count, whatever else the machine
does), which is why it can compare engines here, where no ARM hardware exists.

    python3 bench/arm.py [--sentences N] [--profiles a72,a76] [--engines piper,balanced,...,binary]
                         [--libraries] [--binary build/out/aarch64/edgesay]

Engine "binary" counts the aarch64 binary (`just build-arm64`) through its own `edgesay bench`,
whose timed sentences are the span (EDGESAY_STAGE_MARKERS); it is left out when no binary is built.

`just bench-arm` runs it whole (tens of minutes: emulation with counting runs at a few hundred
million guest instructions per second on one core). bench/arm/setup.sh builds the aarch64 world
it runs in. Results: bench/results/arm.md and arm.json.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))
from edgesay.runtime.markers import STAGES  # noqa: E402
from edgesay.voice import levels  # noqa: E402

SHARED = ROOT.parent / "shared" / "eval" / "sentences.txt"
LOCAL = ROOT / "tests" / "data" / "sentences.txt"
PROFILES = {"a72": ("cortex-a72", "Raspberry Pi 4 (Cortex-A72; A53 boards have its features)"),
            "a76": ("cortex-a76", "Raspberry Pi 5 (Cortex-A76, dot product and fp16; A55 and A78 have them too)")}
# What each profile's kernel reports in HWCAP, as system/cpu.py names it (qemu reports the same).
FEATURES = {"a72": frozenset(), "a76": frozenset({"fphp", "asimdhp", "asimddp"})}
# The default levels first after Piper; "binary" is the aarch64 binary's `edgesay bench` at its default.
ENGINES = ("piper", "balanced", "balanced-fp16", "reference", "fast", "binary")
BINARY = ROOT / "build" / "out" / "aarch64" / "edgesay"  # `just build-arm64`


def count(cache: Path, profile: str, engine: str, sentences: Path, n: int, bundle: Path,
          plugin: str = "libinsn.so", core: int | None = None, binary: Path | None = None) -> dict[str, object]:
    """One counted run: instructions in the span, per stage (edgesay), seconds of audio. Engine
    "binary": the aarch64 binary's `edgesay bench` at its default level (its own embedded voice)."""
    cpu = PROFILES[profile][0]
    with tempfile.TemporaryDirectory(prefix="edgesay-arm-") as scratch:
        out = Path(scratch) / "count.txt"
        env = {**os.environ, "QEMU_LD_PREFIX": str(cache / f"root-{profile}"),
               "PYTHONPATH": f"{cache / 'site'}:{ROOT / 'app'}", "EDGESAY_STAGE_MARKERS": "1",
               "EDGESAY_CACHE_DIR": str(cache / f"edgesay-cache-{profile}"), "PYTHONDONTWRITEBYTECODE": "1"}
        if engine == "binary":
            assert binary is not None
            lines = Path(scratch) / "sentences.txt"
            lines.write_text("\n".join(read_lines(sentences)[:n]) + "\n", encoding="utf-8")
            program = [*unpacked_binary(cache, binary, env), "bench", "--no-startup", "--reps", "1", "--threads", "1",
                       "--sentences", str(lines), "--json"]
        else:
            program = [str(cache / f"root-{profile}" / "usr/bin/python3.11"), str(ROOT / "bench" / "arm" / "guest.py"),
                       *(["piper", str(sentences), str(n)] if engine == "piper" else
                         ["edgesay", str(sentences), str(n), engine, str(bundle)])]
        # One host core: the plugin's inline counter is shared by the guest's threads.
        core = (os.cpu_count() or 1) - 1 if core is None else core
        command = ["taskset", "-c", str(core), "qemu-aarch64", "-cpu", cpu,
                   "-plugin", f"{cache / plugin},out={out}", *program]
        started = time.monotonic()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=6 * 3600)
        if done.returncode != 0:
            raise SystemExit(f"{engine} on {profile} failed:\n{done.stderr[-3000:]}")
        report = out.read_text()
    if engine == "binary":
        record = json.loads(done.stdout)
        audio, level = float(record["summary"]["audio_s"]), record["quality"]
    else:
        audio = float(re.search(r"audio_s ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
        found = re.search(r"level ([\w-]+)", done.stdout)
        level = found.group(1) if found else None
    result: dict[str, object] = {"profile": profile, "engine": engine, "audio_s": audio, "level": level,
                                 "wall_s": time.monotonic() - started}
    if plugin == "libinsn.so":
        result["instructions"] = int(re.search(r"span (\d+)", report).group(1))  # type: ignore[union-attr]
        result["stages"] = {STAGES[int(k)]: int(v) for k, v in re.findall(r"stage (\d+) (\d+)", report)}
    else:
        libraries: dict[str, int] = {}
        for value, name in re.findall(r"(\d+) (.+)", report):
            short = Path(name).name if name.startswith("/") else name
            short = re.sub(r"\.cpython-\d+.*$|-[0-9a-f]{8}\.so.*$", "", short)
            libraries[short] = libraries.get(short, 0) + int(value)
        result["libraries"] = dict(sorted(libraries.items(), key=lambda kv: -kv[1]))
    return result


def read_lines(sentences: Path) -> list[str]:
    return [x for x in sentences.read_text(encoding="utf-8").splitlines() if x.strip()]


def unpacked_binary(cache: Path, binary: Path, env: dict[str, str]) -> list[str]:
    """The command that runs the aarch64 binary's program in one process, as its bootstrap execs
    it (build/onefile_fastpath.py): the counting plugin does not follow an exec, so the program is
    started through the payload's own loader directly. The first call unpacks the payload."""
    sys.path.insert(0, str(ROOT / "build"))
    from onefile_fastpath import MARKER  # one source of truth for the payload's layout
    from runtime import LOADER, RUNTIME_DIR

    home = cache / "binary-xdg"
    env["XDG_CACHE_HOME"] = str(home)

    def newest() -> Path | None:
        found = sorted((home / "edgesay" / "bin").glob(f"*/{MARKER}"), key=lambda m: m.stat().st_mtime)
        return found[-1] if found else None

    marker = newest()
    if marker is None or marker.stat().st_mtime < binary.stat().st_mtime:
        # The bootstrap writes the marker after a complete unpacking, then execs the program.
        subprocess.run(["qemu-aarch64", str(binary), "--version"], env=env, capture_output=True, timeout=3600)
        marker = newest()
    if marker is None:
        raise SystemExit(f"{binary} did not unpack under qemu-aarch64 (no {MARKER} under {home})")
    payload, program = marker.parent, marker.read_text().strip()
    return [str(payload / LOADER), "--library-path", f"{payload / RUNTIME_DIR}:{payload}", "--inhibit-cache",
            "--argv0", str(binary), program]


def table(results: list[dict], profiles: list[str]) -> str:  # type: ignore[type-arg]
    lines = []
    for profile in profiles:
        rows = sorted((r for r in results if r["profile"] == profile and "instructions" in r),
                      key=lambda r: ENGINES.index(r["engine"]) if r["engine"] in ENGINES else len(ENGINES))
        piper = next((r for r in rows if r["engine"] == "piper"), None)
        default = levels.default_for(FEATURES[profile], levels.NAMES, levels.DEFAULT)
        lines += [f"### {PROFILES[profile][1]}: `-cpu {PROFILES[profile][0]}`", "",
                  "| engine | G instructions per second of speech | vs Piper | " +
                  " | ".join(STAGES[1:]) + " |", "|---|---|---|" + "---|" * (len(STAGES) - 1)]
        for r in rows:
            per_s = r["instructions"] / r["audio_s"] / 1e9
            ratio = f"{r['instructions'] / r['audio_s'] / (piper['instructions'] / piper['audio_s']):.2f}" \
                if piper else "-"
            stages = r.get("stages") or {}
            shares = " | ".join(f"{stages.get(s, 0) / r['instructions']:.0%}" if r["engine"] != "piper" else "-"
                                for s in STAGES[1:])
            name = f"**{r['engine']}** (default here)" if r["engine"] == default else r["engine"]
            if r["engine"] == "binary":
                name = f"aarch64 binary, `edgesay bench` ({r['level']})"
            lines.append(f"| {name} | {per_s:.3f} | {ratio} | {shares} |")
        lines.append("")
    return "\n".join(lines)


def library_table(results: list[dict], profiles: list[str]) -> str:  # type: ignore[type-arg]
    """Where each counted engine's instructions run, by the file they were mapped from (--libraries)."""
    rows = [r for r in results if "libraries" in r and r["profile"] in profiles]
    if not rows:
        return ""
    lines = ["", "### Per library (the same span, counted again with the per-file plugin)", "",
             "| profile | engine | libraries, by share of the span (1 % or more) |", "|---|---|---|"]
    for r in rows:
        libraries: dict[str, int] = r["libraries"]
        total = sum(libraries.values())
        big = {name: value for name, value in libraries.items() if value >= total / 100}
        shown = [f"{name} {value / total:.0%}" for name, value in big.items()]
        rest = total - sum(big.values())
        lines.append(f"| {r['profile']} | {r['engine']} | {', '.join(shown)}, the rest {rest / total:.0%} |")
    return "\n".join([*lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000, help="the first N shared sentences (default: all)")
    parser.add_argument("--profiles", default="a72,a76")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--libraries", action="store_true", help="also count per library (a second run each)")
    parser.add_argument("--core", type=int, help="the host core to count on (default: the last)")
    parser.add_argument("--binary", type=Path, default=BINARY, help=f"the aarch64 binary (default: {BINARY})")
    parser.add_argument("--tables", action="store_true", help="only write the tables again from arm.json")
    args = parser.parse_args()
    if args.tables:
        record = json.loads((ROOT / "bench" / "results" / "arm.json").read_text())
        write(record["results"], args.profiles.split(","), record["qemu"], record["sentences"],
              Path(record.get("bundle", "en_US-joe-medium.edgesay")), missing(record["results"], args.profiles.split(",")),
              record.get("date"))
        return 0
    cache = Path(subprocess.run(["bash", str(ROOT / "bench" / "arm" / "setup.sh")], check=True,
                                capture_output=True, text=True).stdout.strip().splitlines()[-1])
    from edgesay.loading import store
    from edgesay.system import paths

    bundle = paths.embedded_bundle() or store.prepared_bundle(*paths.default_voice())
    sentences = SHARED if SHARED.is_file() else LOCAL
    profiles, engines = args.profiles.split(","), args.engines.split(",")
    qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    n = len(read_lines(sentences)[:args.sentences])
    if "binary" in engines and not args.binary.is_file():
        print(f"arm: no aarch64 binary at {args.binary} (just build-arm64): not counted", file=sys.stderr)
        engines.remove("binary")
    runs = [(engine, profile) for engine in engines for profile in profiles]
    results = kept(qemu, n, set(runs))
    # Engine by engine, both profiles each, and the results written after every count: a run of an
    # hour that is stopped keeps what it counted (its header says how much).
    for done, (engine, profile) in enumerate(runs, 1):
        print(f"arm: counting {engine} on {profile} ({done} of {len(runs)})", file=sys.stderr, flush=True)
        results.append(count(cache, profile, engine, sentences, args.sentences, bundle, core=args.core,
                             binary=args.binary))
        if args.libraries:
            results.append(count(cache, profile, engine, sentences, args.sentences, bundle, "libprof.so", args.core,
                                 args.binary))
        write(results, profiles, qemu, n, bundle, missing(results, profiles))
    return 0


def kept(qemu: str, n: int, redone: set[tuple[str, str]]) -> list[dict]:
    """Earlier counts of the same qemu and sentences that this run does not redo: counting every
    engine takes hours, so a run of a few engines adds to the table rather than replacing it."""
    try:
        earlier = json.loads((ROOT / "bench" / "results" / "arm.json").read_text())
    except (OSError, ValueError):
        return []
    if earlier.get("qemu") != qemu or earlier.get("sentences") != n:
        return []
    return [r for r in earlier["results"] if (r["engine"], r["profile"]) not in redone]


def missing(results: list[dict], profiles: list[str]) -> str:  # type: ignore[type-arg]
    counted = {(r["engine"], r["profile"]) for r in results}
    left = [f"{e} on {p}" for e in ENGINES for p in profiles if (e, p) not in counted]
    return "not counted yet: " + ", ".join(left) if left else ""


def write(results: list[dict], profiles: list[str], qemu: str, n: int, bundle: Path,  # type: ignore[type-arg]
          partial: str, date: str | None = None) -> None:
    date = date or time.strftime('%Y-%m-%d %H:%M')
    header = (f"# Instructions executed on ARM profiles, counted under qemu\n\n"
              f"{'**Incomplete: ' + partial + '.** ' if partial else ''}"
              f"{date}, counted on {platform.machine()} with {qemu}; {n} shared "
              f"sentences, one thread, warm, the default voice ({bundle.name}). **A count is a model of work, "
              f"not a time**: qemu models no caches, pipelines or memory, so equal counts may run at different "
              f"speeds on a board; counts are deterministic, so they compare engines where no board is at "
              f"hand. Stage shares are of edgesay's own count (`EDGESAY_STAGE_MARKERS`); 'other' is the rest. "
              f"The default of each profile is the level its HWCAP selects (voice/levels.py); `just test-arm` "
              f"(the package) and `just test-binary-arm64` (the binary) check that choice and its quality under qemu.\n\n")
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "arm.md").write_text(header + table(results, profiles) + library_table(results, profiles))
    (ROOT / "bench" / "results" / "arm.json").write_text(json.dumps({"qemu": qemu, "sentences": n, "bundle": bundle.name, "date": date, "results": results}, indent=1))
    print(header + table(results, profiles) + library_table(results, profiles), flush=True)


if __name__ == "__main__":
    sys.exit(main())
