/**
 * Errors in OpenAI's shape: `{ error: { message, type, param, code } }` with the HTTP status
 * OpenAI uses for the same mistake, so clients raise their usual exception classes
 * (`BadRequestError`, `AuthenticationError`, `NotFoundError`, `UnprocessableEntityError`,
 * `RateLimitError`).
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'timeout_error';

/** An error that becomes one HTTP response; nothing else is affected. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A malformed request: bad JSON, a wrong field, an out-of-range value (400). */
export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, message, 'invalid_request_error', param, code);

/** A well-formed request this model cannot serve (too long for its context, for instance) (422). */
export const unprocessable = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(422, message, 'invalid_request_error', param, code);
