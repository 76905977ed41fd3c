#!/usr/bin/env bash
# Holds the GitHub, Okta, Google, AWS and Azure Resource Manager fakes to the official
# machine-readable descriptions of those APIs (see docs/providers/testing-fakes.md):
#   npm:  @octokit/openapi and @octokit/graphql-schema (GitHub's REST and GraphQL),
#         @okta/okta-sdk-nodejs (Okta's generated models)
#   PyPI: google-api-python-client (discovery documents), google-cloud-securitycenter (SCC v2
#         messages), botocore (AWS service models), azure-mgmt-security / azure-mgmt-resource
#         (ARM's generated models)
# Usage: check.sh <log dir>   (the directory TRIBUTARY_FAKE_RESPONSE_LOG pointed at)
# Outside CI, a machine that cannot install the descriptions skips with a note; under CI=true or
# CI=1 nothing is skipped.
set -euo pipefail
LOG_DIR="$(cd "${1:?usage: check.sh <log dir>}" && pwd)"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
WORK="${CARGO_TARGET_DIR:-$ROOT/target}/fake-conformance-schemas"
VENV="$WORK/venv"
in_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }

# The pinned PyPI packages; only their data files are read, so their dependencies are not
# installed. Keep in step with VERSIONS in services.py.
PYPI=(google-api-python-client==2.202.0 google-cloud-securitycenter==1.48.0 botocore==1.44.18
  azure-mgmt-security==7.0.0 azure-mgmt-resource==23.1.1)

skip_or_fail() {
  if in_ci; then
    echo "fake conformance (schemas): $1; it is required under CI" >&2
    exit 1
  fi
  echo "note: fake conformance (schemas): $1; skipping the check" >&2
  exit 0
}

mkdir -p "$WORK"
STAMP="$WORK/installed"
WANT="${PYPI[*]} $(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || [ ! -d "$HERE/node_modules/@octokit/openapi" ]; then
  rm -f "$STAMP"
  { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --no-deps "${PYPI[@]}"; } ||
    skip_or_fail "the PyPI descriptions could not be installed (python3 venv + pip)"
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
    skip_or_fail "the npm descriptions could not be installed (npm ci)"
  echo "$WANT" >"$STAMP"
fi

# check.py finds the descriptions under one directory.
DESCRIPTIONS="$WORK/descriptions"
mkdir -p "$DESCRIPTIONS"
ln -sfn "$HERE/node_modules" "$DESCRIPTIONS/node_modules"
ln -sfn "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$DESCRIPTIONS/site-packages"

# The checker must refuse known-bad bodies before its verdict on the logs means anything.
python3 "$HERE/check.py" --descriptions "$DESCRIPTIONS" --self-test
python3 "$HERE/check.py" --descriptions "$DESCRIPTIONS" "$LOG_DIR"
