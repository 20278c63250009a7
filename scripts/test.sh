#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, runs every test on
# Node 24, and ends with one "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version)"
tsc -p tsconfig.json
report=$(mktemp)
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node scripts/test-summary.ts "$report" || status=1
rm -f "$report"
exit $status
