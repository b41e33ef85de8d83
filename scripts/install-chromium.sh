#!/usr/bin/env bash
# Debian's Chromium for the report layout tests (tests/reports/test_layout.py drives it with
# Playwright through executable_path; Playwright's own browser download is not used).
# Installs it with apt-get when /usr/bin/chromium is missing and we are root; otherwise says
# what to do and fails: the layout tests never skip silently.
set -euo pipefail
CHROMIUM=${OVERLAP_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: installing Debian's chromium (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  if [ -x "$CHROMIUM" ]; then
    exit 0
  fi
fi
echo "install-chromium: $CHROMIUM is missing. The report layout tests need Chromium:" >&2
echo "  as root on Debian/Ubuntu: apt-get update && apt-get install -y chromium" >&2
echo "  or point OVERLAP_CHROMIUM at a Chromium/Chrome binary." >&2
exit 1
