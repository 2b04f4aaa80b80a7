/**
 * The access token for gated and private repositories, found where huggingface_hub looks: the
 * caller's, else `HF_TOKEN`, else the file `huggingface-cli login` writes (`HF_TOKEN_PATH`, else
 * `HF_HOME/token`, else `~/.cache/huggingface/token`). It is sent as a header, so a line break in
 * it (which would add headers of its own) is refused.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readTextFileSync } from './files.js';

const TOKEN_FILE_LIMITS = { maxBytes: 4096, what: 'Hugging Face token files' };

/** The token to send, or undefined for none. */
export function hubToken(token: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let value = token;
  let from = 'the token option';
  if (value === undefined && env.HF_TOKEN) {
    value = env.HF_TOKEN;
    from = 'HF_TOKEN';
  }
  if (value === undefined) {
    const file = env.HF_TOKEN_PATH
      ? resolve(env.HF_TOKEN_PATH)
      : env.HF_HOME
        ? join(resolve(env.HF_HOME), 'token')
        : join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'huggingface', 'token');
    if (existsSync(file)) {
      value = readTextFileSync(file, TOKEN_FILE_LIMITS);
      from = file;
    }
  }
  if (value === undefined) return undefined;
  value = value.trim();
  if (value.length === 0) return undefined;
  if (!/^[\x21-\x7e]+$/.test(value))
    throw new Error(`the Hugging Face token from ${from} has characters a token cannot have (spaces, line breaks or non-ASCII)`);
  return value;
}
