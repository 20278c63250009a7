// rpm-md repositories: .repo files, repomd.xml, and the verified metadata cache the
// solver reads (compose/depsolve).

export { parseRepoFile, substituteRepoVars } from './repo-file.ts';
export type { RepoConfig } from './repo-file.ts';
export { loadRepoFiles, selectRepos } from './load.ts';
export { compressionOf, parseRepomd } from './repomd.ts';
export type { Checksum, Compression, Repomd, RepomdRecord } from './repomd.ts';
export { formatRepoLine, repoCacheDir, syncRepo, syncRepos } from './cache.ts';
export type { RepoMetadata, SyncOptions } from './cache.ts';
export { digestDecompressed } from './decompress.ts';
export { downloadVerified, resolveUrl, type Expected, type FetchOptions } from './fetch.ts';
