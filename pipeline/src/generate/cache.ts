// Generated inputs, kept between runs (bench and chaos): one file per set of generator arguments,
// written under a temporary name and renamed, so a half-written file is never taken for one.
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../engines/monolith-runner.js';
import { DEFAULT_TYPES, generate, type Distribution } from './generator.js';

export const INPUT_CACHE_DIR = join(REPO_ROOT, '.cache/pipeline-bench');

/** Bumped whenever the generator's output changes, so cached inputs are not reused wrongly. */
const GENERATOR_VERSION = 2;

export interface CachedInputOptions {
  events: number;
  seed: number;
  users: number;
  days: number;
  distribution: Distribution;
  /** 0 (default): valid lines only. */
  invalidRatio?: number;
}

/** The cache file of a generated input; the name holds every argument that shapes its bytes. */
export function cachedInputName(o: CachedInputOptions): string {
  const validity = o.invalidRatio ? `invalid${o.invalidRatio}` : 'valid';
  return `events-v${GENERATOR_VERSION}-n${o.events}-s${o.seed}-u${o.users}-d${o.days}-${o.distribution}-${validity}.ndjson`;
}

/**
 * The cached input for `o`, generated first when it is missing: `onGenerate` hears where before
 * generation starts, `onProgress` the lines written so far (it may throw to stop).
 */
export async function cachedInput(
  o: CachedInputOptions,
  hooks: { onGenerate?: (path: string) => void; onProgress?: (written: number) => void } = {},
): Promise<{ path: string; generated: boolean }> {
  mkdirSync(INPUT_CACHE_DIR, { recursive: true });
  const path = join(INPUT_CACHE_DIR, cachedInputName(o));
  if (existsSync(path)) return { path, generated: false };
  hooks.onGenerate?.(path);
  const tmp = path + '.tmp';
  await generate({ ...o, invalidRatio: o.invalidRatio ?? 0, types: DEFAULT_TYPES, out: tmp, onProgress: hooks.onProgress });
  renameSync(tmp, path);
  return { path, generated: true };
}
