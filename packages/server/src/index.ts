/**
 * `@mlxn/server`: an OpenAI-compatible HTTP server for Qwen3 models on MLX, with one
 * continuous-batching scheduler shared by every request.
 *
 * @packageDocumentation
 * @example
 * import { createServer } from '@mlxn/server';
 * const server = await createServer({ model: 'Qwen/Qwen3-0.6B' });
 * const { url } = await server.listen(); // http://127.0.0.1:8080
 * await server.close();
 */

export type { ErrorType } from './errors.js';
export { ApiError } from './errors.js';
export type { PrefixCacheOptions, PrefixHit } from './prefix-cache.js';
export { PrefixCache } from './prefix-cache.js';
export type { PhaseTimes, RowEvent, RowRequest, SchedulerOptions, SchedulerStats } from './scheduler.js';
export { QueueFullError, Scheduler } from './scheduler.js';
export type { ListeningAddress, MlxnServer, ServerOptions } from './server.js';
export { createServer } from './server.js';
