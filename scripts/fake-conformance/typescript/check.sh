#!/usr/bin/env bash
# Checks the responses the Microsoft Graph (Entra ID, Teams), Microsoft login, Slack and
# Cloudflare fakes logged against the providers' official TypeScript types, with the TypeScript
# compiler's strict and excess-property checks (check.mjs; the types in descriptions.ts).
# The type packages and typescript are pinned in package-lock.json and installed with `npm ci`
# into ./node_modules (ignored by git), once per lock file.
# Usage: scripts/fake-conformance/typescript/check.sh <log dir>
# Outside CI, a machine without node/npm or the npm registry skips with a note; under CI=true
# (or CI=1) it must run.
set -euo pipefail
LOG_DIR="${1:?usage: check.sh <log dir>}"
# Relative to the caller's directory; a missing directory fails the check (nothing was logged).
LOG_DIR="$(cd "$LOG_DIR" 2>/dev/null && pwd || echo "$LOG_DIR")"
cd "$(dirname "$0")"
in_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }

skip() {
  if in_ci; then
    echo "fake conformance (TypeScript types): $1; it is required under CI" >&2
    exit 1
  fi
  echo "note: fake conformance (TypeScript types) skipped: $1" >&2
  exit 0
}

command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are not installed"
# The install is redone only when the lock file changed since the last one.
STAMP="node_modules/.tributary-lock"
if ! cmp -s package-lock.json "$STAMP" 2>/dev/null; then
  if ! npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2; then
    skip "the pinned packages could not be installed from npm"
  fi
  cp package-lock.json "$STAMP"
fi

# The checker must reject known-bad bodies before its verdict on the logs counts.
node check.mjs --self-test
node check.mjs "$LOG_DIR"
