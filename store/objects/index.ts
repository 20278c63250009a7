// Public surface of the object codecs (pure: no I/O).
export * from './checksum.ts';
export * from './types.ts';
export * from './xattrs.ts';
export * from './dirmeta.ts';
export * from './dirtree.ts';
export * from './file-header.ts';
export * from './commit.ts';
export * from './summary.ts';
