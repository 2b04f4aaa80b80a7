/**
 * The error MLX raises for invalid operations (shapes that do not broadcast, bad axes, wrong
 * dtypes, failures during evaluation). It carries MLX's own message.
 *
 * Errors thrown by the native binary are plain `Error`s with `code === 'MlxError'`; this class
 * recognises them, so `err instanceof MlxError` works for both.
 */
export class MlxError extends Error {
  readonly code = 'MlxError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MlxError';
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof Error && (value as { code?: unknown }).code === 'MlxError';
  }
}

/** Thrown when a disposed array is used. */
export function disposedError(): Error {
  const e = new Error('Array has been disposed') as Error & { code: string };
  e.code = 'ERR_MLXN_DISPOSED';
  return e;
}
