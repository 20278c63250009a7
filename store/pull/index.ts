// Public surface of pulling: the pull engine, fsck repair, progress rendering,
// and the transport (also used by tests and benchmarks).
export { pullRemote, type PullOptions, type PullResult, type PulledRef } from './pull.ts';
export { repairRepo, type RepairOptions, type RepairResult } from './repair.ts';
export { emptyProgress, formatBytes, renderProgressJson, renderProgressLine, renderPullSummary, type PullProgress } from './progress.ts';
export { openTransport, type Transport, type TransportOptions } from './transport.ts';
export { parseSize } from './space.ts';
