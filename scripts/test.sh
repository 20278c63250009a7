#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, runs every test on
# Node 24 (unit suite, then the VM suite), and ends with one "N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version)"
tsc -p tsconfig.json
report=$(mktemp)
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
reports=("$report")
# The VM suite (real QEMU boots of the test OS, vm-tests/) runs after the unit suite;
# ATOMIC_SKIP_VM=1 leaves it out (e.g. while iterating on one module).
if [ "${ATOMIC_SKIP_VM:-0}" != 1 ] && [ $# -eq 0 ]; then
  vm_report=$(mktemp)
  bash vm-tests/run.sh --reporter=default --reporter=json --outputFile.json="$vm_report" || status=$?
  reports+=("$vm_report")
fi
node scripts/test-summary.ts "${reports[@]}" || status=1
rm -f "${reports[@]}"
exit $status
