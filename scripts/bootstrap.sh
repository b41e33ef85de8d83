#!/usr/bin/env bash
# Set up everything Overlap needs on a machine that has only python3 and pip:
# uv (a pinned version, in .tools/ unless one is on PATH), then the locked environment.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
else
  if [ ! -x .tools/bin/uv ]; then
    echo "bootstrap: installing uv ${UV_VERSION} into .tools/" >&2
    python3 -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
  fi
  UV=.tools/bin/uv
fi
# The machine's Python 3.11+ is used (uv cannot download interpreters here).
"$UV" sync --frozen --python-preference only-system --quiet
touch .venv/.synced
# Debian's Chromium for the report layout tests (tests/reports/test_layout.py). Where it cannot
# be installed (not root, no apt-get) setup goes on; that test then fails naming this script.
scripts/install-chromium.sh || echo "bootstrap: continuing without Chromium; make test will fail in tests/reports/test_layout.py" >&2
