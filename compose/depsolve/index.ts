// Depsolving with libsolv (the solver dnf and rpm-ostree use): package specs and
// rpm-md repositories in, the ordered install set out.

export { depsolve, hostArch } from './solve.ts';
export type { DepsolveRepo, DepsolveRequest, DepsolveResult, ResolvedPackage } from './solve.ts';
export { parsePackageSpec, splitEvr } from './spec.ts';
export type { PackageSpec, RelOp } from './spec.ts';
