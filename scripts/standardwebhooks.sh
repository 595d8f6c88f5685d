#!/usr/bin/env bash
# The Standard Webhooks reference library (PyPI `standardwebhooks`) in its own
# venv under $PAYHOOK_TOOLS (default ~/.cache/payhook-tools), for the interop
# test tests/tests/it/standard_webhooks.rs (which fails, naming this script,
# when the library is missing). Prints the venv's python on its last line.
#
#   scripts/standardwebhooks.sh
#
# STANDARDWEBHOOKS_VERSION overrides the pinned version (the test checks it).
set -euo pipefail

tools="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
venv="$tools/standardwebhooks"
version="${STANDARDWEBHOOKS_VERSION:-1.1.0}"

have="$("$venv/bin/python" -c 'import standardwebhooks; print(standardwebhooks.__version__)' 2>/dev/null || true)"
if [[ "$have" != "$version" ]]; then
    echo "standardwebhooks.sh: installing standardwebhooks==$version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "standardwebhooks==$version" >&2
fi
echo "$venv/bin/python"
