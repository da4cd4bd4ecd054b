#!/usr/bin/env bash
# The PocketBase JS SDK tests: installs the pinned SDK (package-lock.json)
# and runs Node's test runner against the binary in $STAGEHAND_BIN.
set -euo pipefail
cd "$(dirname "$0")"
: "${STAGEHAND_BIN:?set STAGEHAND_BIN to the stagehand binary}"
npm ci --no-audit --no-fund --loglevel=error
node --test
