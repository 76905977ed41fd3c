#!/usr/bin/env bash
# Installs oauth2-mock-server (npm, pinned by package-lock.json) for the loopback OAuth 2.0 /
# OIDC server that tributary_testkit::oauth starts (server.mjs).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
