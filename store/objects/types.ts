// Object types and their file extensions (ostree-core.h OstreeObjectType).

/** Numeric object type ids, as used in static deltas and `(su)` object names. */
export const ObjectType = {
  FILE: 1,
  DIR_TREE: 2,
  DIR_META: 3,
  COMMIT: 4,
  TOMBSTONE_COMMIT: 5,
  COMMIT_META: 6,
  PAYLOAD_LINK: 7,
} as const;
export type ObjectType = (typeof ObjectType)[keyof typeof ObjectType];

export type ObjectKind = 'file' | 'dirtree' | 'dirmeta' | 'commit' | 'commit-tombstone' | 'commitmeta' | 'payload-link';

const KIND_BY_TYPE: Record<ObjectType, ObjectKind> = {
  1: 'file', 2: 'dirtree', 3: 'dirmeta', 4: 'commit', 5: 'commit-tombstone', 6: 'commitmeta', 7: 'payload-link',
};

export function kindOf(type: ObjectType): ObjectKind {
  return KIND_BY_TYPE[type];
}

export function typeOfKind(kind: string): ObjectType | undefined {
  for (const [t, k] of Object.entries(KIND_BY_TYPE)) if (k === kind) return Number(t) as ObjectType;
  return undefined;
}

/** True for dirtree, dirmeta and commit (objects whose file is their GVariant). */
export function isMetadataType(type: ObjectType): boolean {
  return type === ObjectType.DIR_TREE || type === ObjectType.DIR_META || type === ObjectType.COMMIT;
}

/** Mode bits (Linux st_mode). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export const isDirMode = (m: number): boolean => (m & S_IFMT) === S_IFDIR;
export const isRegMode = (m: number): boolean => (m & S_IFMT) === S_IFREG;
export const isLinkMode = (m: number): boolean => (m & S_IFMT) === S_IFLNK;
