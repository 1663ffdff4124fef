# edgesay: the front door. `just --list` shows the recipes.

# Install edgesay and speak a sentence into hello.wav with the default voice
speak text="Hello from edgesay, running on your device.":
    python3 -m pip install --quiet --root-user-action=ignore -e .
    edgesay --text "{{text}}" -o hello.wav

# Install test dependencies and run the tests (what CI runs)
test *args:
    bash tests/run.sh {{args}}

# Build a voice bundle (default: the package voice, which is then embedded): split, quantize, compensate, pack
models voice="":
    python3 -m pip install --quiet --root-user-action=ignore -e .
    cd models && python3 1_split.py {{voice}} && python3 2_quantize.py {{voice}} && python3 3_compensate.py {{voice}} && python3 4_pack.py {{voice}}

# Lint and type-check
lint:
    ruff check app tests bench
    mypy

# Benchmarks against Piper on this machine: time to first audio, memory, INT8 speed and quality (results in bench/results/)
bench:
    python3 -m pip install --quiet --root-user-action=ignore -e '.[test]'
    python3 bench/ttfa_memory.py
    python3 bench/int8.py
    python3 bench/wer.py
