#!/usr/bin/env bash
# Installs the cel-spec conformance suite (npm package @bufbuild/cel-spec, pinned by
# package-lock.json) and exports its tests as JSON for crates/cel/tests/it/conformance.rs.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node export-json.mjs
