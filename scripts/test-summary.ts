// Prints the suite's closing line from vitest's JSON reports (the unit suite, and the
// VM suite when it ran): "tests: N passed, N failed, N skipped".
import { readFileSync } from 'node:fs';

interface Report { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number; numTotalTests: number }
const reports = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')) as Report);
const sum = (k: keyof Report): number => reports.reduce((n, r) => n + r[k], 0);
console.log(`tests: ${sum('numPassedTests')} passed, ${sum('numFailedTests')} failed, ${sum('numPendingTests') + sum('numTodoTests')} skipped`);
if (reports.some((r) => r.numTotalTests === 0)) {
  console.error('no tests ran');
  process.exit(1);
}
