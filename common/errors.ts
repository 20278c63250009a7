// Error type shared by every module: a stable UPPER_SNAKE code with an area
// prefix, a message naming the object, and an optional hint. docs/errors.md lists the codes.

export interface UpdaterErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** An error with a stable code; the CLI maps codes to exit statuses and prints `error:`/`hint:`. */
export class UpdaterError extends Error {
  readonly code: string;
  readonly hint?: string;

  constructor(code: string, message: string, options: UpdaterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpdaterError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

/** True when `err` is an UpdaterError, optionally with the given code. */
export function isUpdaterError(err: unknown, code?: string): err is UpdaterError {
  return err instanceof UpdaterError && (code === undefined || err.code === code);
}

/** Node system error check (`ENOENT`, `EEXIST`, …). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/**
 * Runs `fn` and prefixes any UpdaterError message with `context` (ostree's
 * GLNX_AUTO_PREFIX_ERROR), keeping the code; other errors are wrapped with `code`.
 */
export async function withContext<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw prefixError(context, err);
  }
}

export function prefixError(context: string, err: unknown): Error {
  if (err instanceof UpdaterError) {
    const e = new UpdaterError(err.code, `${context}: ${err.message}`, { hint: err.hint, cause: err.cause ?? err });
    return e;
  }
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException;
    return new UpdaterError(sys.code ? `IO_${sys.code}` : 'INTERNAL', `${context}: ${err.message}`, { cause: err });
  }
  return new UpdaterError('INTERNAL', `${context}: ${String(err)}`);
}
