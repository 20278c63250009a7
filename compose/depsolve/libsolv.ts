// libsolv 0.7 (Debian's libsolv.so.1 + libsolvext.so.1) through koffi. No headers are
// installed, so the prototypes, constants and the few struct fields read here are
// declared from libsolv's public API (pool.h, repo.h, solver.h, selection.h, queue.h).
// The struct offsets are LP64 and checked against the running library by checkLayout().

import koffi from 'koffi';
import { UpdaterError } from '../../common/errors.ts';

// Opaque handles; the names are prefixed so they cannot collide with other koffi users.
for (const name of ['SolvPool', 'SolvRepo', 'SolvSolver', 'SolvTransaction', 'SolvFILE']) koffi.opaque(name);

/** `typedef struct s_Queue { Id *elements; int count; Id *alloc; int left; } Queue;` (queue.h), LP64. */
export const QUEUE_SIZE = 32;
const QUEUE_ELEMENTS = 0; // Id *: first element
const QUEUE_COUNT = 8; // int: number of elements in use

/** `typedef struct s_Map { unsigned char *map; int size; } Map;` (bitmap.h) */
export const MAP_SIZE = 16;

// struct s_Pool (pool.h): offsets of the public fields used here (LP64).
// appdata(0) ss{strings,nstrings,stringspace,sstrings,stringhashtbl,stringhashmask}(8..56)
// rels(56) nrels(64) repos(72) nrepos(80) urepos(84) installed(88) solvables(96) nsolvables(104)
// languages(112) nlanguages(120) disttype(124) id2arch(128) id2color(136) lastarch(144)
// vendormap(152, a Queue) vendorclasses(184) whatprovides(192) whatprovides_rel(200)
// whatprovidesdata(208) whatprovidesdataoff(216) whatprovidesdataleft(220) considered(224)
export const POOL_SOLVABLES = 96;
export const POOL_NSOLVABLES = 104;
export const POOL_DISTTYPE = 124;
export const POOL_CONSIDERED = 224;

// struct s_Solvable (solvable.h): name, arch, evr, vendor (Ids), repo pointer, then 8 Offsets.
export const SOLVABLE_SIZE = 56;
export const SOLVABLE_NAME_OFF = 0;
export const SOLVABLE_ARCH_OFF = 4;
export const SOLVABLE_EVR_OFF = 8;
export const SOLVABLE_REPO_OFF = 16;

// struct s_Repo (repo.h): name(0) repoid(8) appdata(16) pool(24) start(32) end(36)
// nsolvables(40) disabled(44) priority(48) subpriority(52).
export const REPO_REPOID = 8;
export const REPO_NSOLVABLES = 40;
export const REPO_PRIORITY = 48;
export const REPO_SUBPRIORITY = 52;

// struct s_Transaction (transaction.h): pool pointer, then the steps Queue.
export const TRANSACTION_STEPS = 8;

export const DISTTYPE_RPM = 0;
export const DISTTYPE_DEB = 1;

export const REL_GT = 1;
export const REL_EQ = 2;
export const REL_LT = 4;

export const REPO_EXTEND_SOLVABLES = 1 << 4;

export const SOLVER_SOLVABLE = 0x01;
export const SOLVER_SOLVABLE_NAME = 0x02;
export const SOLVER_SOLVABLE_PROVIDES = 0x03;
export const SOLVER_SOLVABLE_ONE_OF = 0x04;
export const SOLVER_SOLVABLE_REPO = 0x05;
export const SOLVER_INSTALL = 0x0100;
export const SOLVER_LOCK = 0x0600;
export const SOLVER_SETREPO = 0x10000000;

export const SOLVER_FLAG_ALLOW_VENDORCHANGE = 3;
export const SOLVER_FLAG_IGNORE_RECOMMENDED = 7;
export const SOLVER_FLAG_BEST_OBEY_POLICY = 12;
export const SOLVER_FLAG_KEEP_ORPHANS = 18;
export const SOLVER_FLAG_YUM_OBSOLETES = 21;

export const SELECTION_NAME = 1 << 0;
export const SELECTION_PROVIDES = 1 << 1;
export const SELECTION_FILELIST = 1 << 2;
export const SELECTION_CANON = 1 << 3;
export const SELECTION_DOTARCH = 1 << 4;
export const SELECTION_GLOB = 1 << 9;
export const SELECTION_FLAT = 1 << 10;
export const SELECTION_WITH_DISABLED = 1 << 16;
export const SELECTION_WITH_BADARCH = 1 << 17;

// transaction.h: step types as transaction_type(SOLVER_TRANSACTION_SHOW_ACTIVE) reports them.
export const SOLVER_TRANSACTION_INSTALL = 0x20;
export const SOLVER_TRANSACTION_SHOW_ACTIVE = 1 << 0;

type Fn = (...args: unknown[]) => unknown;

export interface Libsolv {
  pool_create: Fn; pool_free: Fn; pool_setdisttype: Fn; pool_setarch: Fn; pool_errstr: Fn;
  pool_str2id: Fn; pool_id2str: Fn; pool_rel2id: Fn; pool_dep2str: Fn; pool_solvable2str: Fn;
  pool_addfileprovides: Fn; pool_createwhatprovides: Fn;
  pool_lookup_num: Fn; pool_lookup_checksum: Fn; pool_lookup_str: Fn;
  solvable_lookup_location: Fn; solv_chksum_type2str: Fn;
  repo_create: Fn; repo_internalize: Fn;
  queue_init: Fn; queue_free: Fn; queue_insertn: Fn;
  map_init: Fn; map_free: Fn; map_invertall: Fn; solv_calloc: Fn; solv_free: Fn;
  selection_make: Fn; selection_solvables: Fn; selection_filter: Fn;
  solver_create: Fn; solver_free: Fn; solver_set_flag: Fn; solver_solve: Fn;
  solver_problem_count: Fn; solver_problem2str: Fn; solver_findallproblemrules: Fn; solver_problemruleinfo2str: Fn; solver_ruleinfo: Fn;
  solver_create_transaction: Fn; transaction_free: Fn; transaction_order: Fn; transaction_type: Fn;
  memcpyOut: Fn; memcpyIn: Fn; repo_add_repomdxml: Fn; repo_add_rpmmd: Fn; solv_xfopen: Fn; fclose: Fn; fread: Fn; ferror: Fn;
}

let loaded: Libsolv | null = null;

/** Loads libsolv lazily (the rest of the program runs without it) and checks the struct layout once. */
export function libsolv(): Libsolv {
  if (loaded) return loaded;
  let core: koffi.IKoffiLib, ext: koffi.IKoffiLib, libc: koffi.IKoffiLib;
  try {
    core = koffi.load('libsolv.so.1');
    ext = koffi.load('libsolvext.so.1');
    libc = koffi.load('libc.so.6');
  } catch (cause) {
    throw new UpdaterError('DEPSOLVE_LIBSOLV_MISSING', `cannot load libsolv: ${(cause as Error).message}`, {
      hint: 'install libsolv1 and libsolvext1 (apt-get install libsolv1 libsolvext1)',
      cause,
    });
  }
  const l: Libsolv = {
    pool_create: core.func('SolvPool *pool_create(void)'),
    pool_free: core.func('void pool_free(SolvPool *pool)'),
    pool_setdisttype: core.func('int pool_setdisttype(SolvPool *pool, int disttype)'),
    pool_setarch: core.func('void pool_setarch(SolvPool *pool, const char *arch)'),
    pool_errstr: core.func('const char *pool_errstr(SolvPool *pool)'),
    pool_str2id: core.func('int pool_str2id(SolvPool *pool, const char *str, int create)'),
    pool_id2str: core.func('const char *pool_id2str(SolvPool *pool, int id)'),
    pool_rel2id: core.func('int pool_rel2id(SolvPool *pool, int name, int evr, int flags, int create)'),
    pool_dep2str: core.func('const char *pool_dep2str(SolvPool *pool, int id)'),
    pool_solvable2str: core.func('const char *pool_solvable2str(SolvPool *pool, uintptr_t s)'),
    pool_addfileprovides: core.func('void pool_addfileprovides(SolvPool *pool)'),
    pool_createwhatprovides: core.func('void pool_createwhatprovides(SolvPool *pool)'),
    pool_lookup_num: core.func('unsigned long long pool_lookup_num(SolvPool *pool, int entry, int keyname, unsigned long long notfound)'),
    pool_lookup_checksum: core.func('const char *pool_lookup_checksum(SolvPool *pool, int entry, int keyname, _Out_ int *typep)'),
    pool_lookup_str: core.func('const char *pool_lookup_str(SolvPool *pool, int entry, int keyname)'),
    solvable_lookup_location: core.func('const char *solvable_lookup_location(uintptr_t s, _Out_ unsigned int *medianrp)'),
    solv_chksum_type2str: core.func('const char *solv_chksum_type2str(int type)'),
    repo_create: core.func('SolvRepo *repo_create(SolvPool *pool, const char *name)'),
    repo_internalize: core.func('void repo_internalize(SolvRepo *repo)'),
    queue_init: core.func('void queue_init(uint8_t *q)'),
    queue_free: core.func('void queue_free(uint8_t *q)'),
    queue_insertn: core.func('void queue_insertn(uint8_t *q, int pos, int n, const int *elements)'),
    map_init: core.func('void map_init(uintptr_t m, int n)'),
    map_free: core.func('void map_free(uintptr_t m)'),
    map_invertall: core.func('void map_invertall(uintptr_t m)'),
    solv_calloc: core.func('uintptr_t solv_calloc(size_t num, size_t len)'),
    solv_free: core.func('uintptr_t solv_free(uintptr_t mem)'),
    selection_make: core.func('int selection_make(SolvPool *pool, uint8_t *selection, const char *name, int flags)'),
    selection_filter: core.func('void selection_filter(SolvPool *pool, uint8_t *sel1, uint8_t *sel2)'),
    selection_solvables: core.func('void selection_solvables(SolvPool *pool, uint8_t *selection, uint8_t *pkgs)'),
    solver_create: core.func('SolvSolver *solver_create(SolvPool *pool)'),
    solver_free: core.func('void solver_free(SolvSolver *solv)'),
    solver_set_flag: core.func('int solver_set_flag(SolvSolver *solv, int flag, int value)'),
    solver_solve: core.func('int solver_solve(SolvSolver *solv, uint8_t *job)'),
    solver_problem_count: core.func('unsigned int solver_problem_count(SolvSolver *solv)'),
    solver_problem2str: core.func('const char *solver_problem2str(SolvSolver *solv, int problem)'),
    solver_findallproblemrules: core.func('void solver_findallproblemrules(SolvSolver *solv, int problem, uint8_t *rules)'),
    solver_problemruleinfo2str: core.func('const char *solver_problemruleinfo2str(SolvSolver *solv, int type, int source, int target, int dep)'),
    solver_ruleinfo: core.func('int solver_ruleinfo(SolvSolver *solv, int rid, _Out_ int *fromp, _Out_ int *top, _Out_ int *depp)'),
    solver_create_transaction: core.func('SolvTransaction *solver_create_transaction(SolvSolver *solv)'),
    transaction_free: core.func('void transaction_free(SolvTransaction *trans)'),
    transaction_order: core.func('void transaction_order(SolvTransaction *trans, int flags)'),
    transaction_type: core.func('int transaction_type(SolvTransaction *trans, int p, int mode)'),
    // memcpy with an integer address on one side: reading and writing libsolv's memory
    // this way creates no koffi pointer objects (decoding a 'void *' costs memory per call).
    memcpyOut: libc.func('memcpy', 'uintptr_t', ['_Out_ uint8_t *', 'uintptr_t', 'size_t']),
    memcpyIn: libc.func('memcpy', 'uintptr_t', ['uintptr_t', 'const uint8_t *', 'size_t']),
    repo_add_repomdxml: ext.func('int repo_add_repomdxml(SolvRepo *repo, SolvFILE *fp, int flags)'),
    repo_add_rpmmd: ext.func('int repo_add_rpmmd(SolvRepo *repo, SolvFILE *fp, const char *language, int flags)'),
    solv_xfopen: ext.func('SolvFILE *solv_xfopen(const char *fn, const char *mode)'),
    fclose: libc.func('int fclose(SolvFILE *fp)'),
    fread: libc.func('size_t fread(_Out_ uint8_t *ptr, size_t size, size_t n, SolvFILE *fp)'),
    ferror: libc.func('int ferror(SolvFILE *fp)'),
  };
  checkLayout(l);
  loaded = l;
  return l;
}

/**
 * Verifies the hand-declared struct offsets against the loaded library: a fresh pool
 * has two solvables (the null one and "system:system"), and the disttype field moves
 * when pool_setdisttype changes it. A mismatch means a libsolv ABI this code does not know.
 */
function checkLayout(l: Libsolv): void {
  const pool = l.pool_create();
  try {
    const bad = (what: string): never => {
      throw new UpdaterError('DEPSOLVE_LIBSOLV_ABI', `libsolv's struct layout is not the one expected (libsolv 0.7): ${what}`);
    };
    const m = new Mem(l, pool);
    if (m.poolInt(POOL_NSOLVABLES) !== 2) bad('pool->nsolvables');
    l.pool_setdisttype(pool, DISTTYPE_DEB);
    if (m.poolInt(POOL_DISTTYPE) !== DISTTYPE_DEB) bad('pool->disttype');
    l.pool_setdisttype(pool, DISTTYPE_RPM);
    if (m.poolInt(POOL_DISTTYPE) !== DISTTYPE_RPM) bad('pool->disttype');
    if (m.poolPtr(POOL_CONSIDERED) !== 0n) bad('pool->considered');
    if (!String(l.pool_solvable2str(pool, m.solvable(1))).startsWith('system:system')) bad('Solvable');
  } finally {
    l.pool_free(pool);
  }
}

/** Reads and writes libsolv structs of one pool by address. */
export class Mem {
  readonly l: Libsolv;
  readonly pool: unknown;
  readonly poolAddr: bigint;

  constructor(l: Libsolv, pool: unknown) {
    this.l = l;
    this.pool = pool;
    this.poolAddr = koffi.address(pool as object);
  }

  read(addr: bigint, len: number): Buffer {
    const b = Buffer.alloc(len);
    if (len > 0) this.l.memcpyOut(b, addr, len);
    return b;
  }

  write(addr: bigint, data: Buffer): void {
    if (data.length > 0) this.l.memcpyIn(addr, data, data.length);
  }

  poolInt(off: number): number {
    return this.read(this.poolAddr + BigInt(off), 4).readInt32LE(0);
  }

  poolPtr(off: number): bigint {
    return this.read(this.poolAddr + BigInt(off), 8).readBigUInt64LE(0);
  }

  setPoolPtr(off: number, value: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value);
    this.write(this.poolAddr + BigInt(off), b);
  }

  /** The address of `pool->solvables + p` (pool_id2solvable is an inline function in pool.h). */
  solvable(p: number): bigint {
    return this.poolPtr(POOL_SOLVABLES) + BigInt(p * SOLVABLE_SIZE);
  }

  /** Solvable `p`'s name, arch and evr Ids and the address of its Repo. */
  solvableFields(p: number): { name: number; arch: number; evr: number; repo: bigint } {
    const b = this.read(this.solvable(p), SOLVABLE_SIZE);
    return { name: b.readInt32LE(SOLVABLE_NAME_OFF), arch: b.readInt32LE(SOLVABLE_ARCH_OFF), evr: b.readInt32LE(SOLVABLE_EVR_OFF), repo: b.readBigUInt64LE(SOLVABLE_REPO_OFF) };
  }

  /** The elements of the Queue stored at `addr` (e.g. inside another struct). */
  queueAt(addr: bigint): number[] {
    return this.queueFromHeader(this.read(addr, QUEUE_SIZE));
  }

  /** The elements of a Queue held in a JS buffer (see newQueue). */
  queue(q: Buffer): number[] {
    return this.queueFromHeader(q);
  }

  private queueFromHeader(h: Buffer): number[] {
    const count = h.readInt32LE(QUEUE_COUNT);
    if (count === 0) return [];
    const b = this.read(h.readBigUInt64LE(QUEUE_ELEMENTS), count * 4);
    return Array.from({ length: count }, (_, i) => b.readInt32LE(i * 4));
  }
}

/** A Queue struct in JS memory (stable for the Buffer's life), initialised; release with freeQueue. */
export function newQueue(l: Libsolv): Buffer {
  const q = Buffer.alloc(QUEUE_SIZE);
  l.queue_init(q);
  return q;
}

export function freeQueue(l: Libsolv, q: Buffer): void {
  l.queue_free(q);
}

export function queuePush(l: Libsolv, q: Buffer, ...ids: number[]): void {
  l.queue_insertn(q, q.readInt32LE(QUEUE_COUNT), ids.length, Int32Array.from(ids));
}
