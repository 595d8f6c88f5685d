#!/usr/bin/env bash
# The Python libraries the tests use as "the ecosystem's client": the
# Standard Webhooks verifier from PyPI, pinned, in a venv under
# $PAYHOOK_TOOLS (installed once). Prints the venv's python on its last line
# (scripts/test.sh exports it as PAYHOOK_TEST_PYTHON).
set -euo pipefail
tools="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
venv="$tools/pytools"
want="standardwebhooks==1.1.0"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -m pip freeze 2>/dev/null | grep -qx "$want"; then
    echo "pytools.sh: installing $want into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$want" >&2
fi
"$venv/bin/python" -c 'import standardwebhooks' >&2
echo "$venv/bin/python"
