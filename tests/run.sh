#!/usr/bin/env bash
# The test command (README, Justfile and CI all run exactly this): install what the tests
# need, then run them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
exec python3 -m pytest "$@"
