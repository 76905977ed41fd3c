#!/usr/bin/env bash
# Prepares the web UI's browser tests: playwright-core from npm (pinned by package-lock.json) and
# Debian's Chromium (Playwright's own browser downloads are not used). Installing Chromium needs
# root and Debian's package mirrors; elsewhere, install it yourself (`apt-get install chromium`).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the UI browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
  else
    echo "chromium is not installed: the UI browser tests will be skipped (required under CI=true)" >&2
  fi
fi
