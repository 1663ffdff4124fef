#!/usr/bin/env bash
# The test command (README, Justfile and CI all run exactly this): install what the tests
# need, then run them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
# aplay, for --play and --device (tests/test_cli.py plays into ALSA's file plugin); as root only.
if ! command -v aplay >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq alsa-utils >/dev/null 2>&1 || echo "tests/run.sh: alsa-utils not installed" >&2
fi
exec python3 -m pytest "$@"
