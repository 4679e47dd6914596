// Where the benchmark lives, for the CLI and for the control server that runs it.
import { join } from 'node:path';
import { REPO_ROOT } from '../engines/monolith-runner.js';

/** The pipeline CLI; `node --import tsx PIPELINE_CLI bench …` is the one benchmark code path. */
export const PIPELINE_CLI = join(REPO_ROOT, 'pipeline/src/cli.ts');
/** The history both the CLI and `npm start`'s control server use by default. */
export const DEFAULT_HISTORY_DIR = join(REPO_ROOT, '.runtime/bench/history');
/** The repository root (the bench's working directory). */
export { REPO_ROOT };
/** Generated inputs, kept between runs (bench and chaos). */
export const INPUT_CACHE_DIR = join(REPO_ROOT, '.cache/pipeline-bench');

/** Bumped whenever the generator's output changes, so cached inputs are not reused wrongly. */
const GENERATOR_VERSION = 2;

/** The cache file of a generated input; the name holds every argument that shapes its bytes. */
export function cachedInputName(o: { events: number; seed: number; users: number; days: number; distribution: string; invalidRatio?: number }): string {
  const validity = o.invalidRatio ? `invalid${o.invalidRatio}` : 'valid';
  return `events-v${GENERATOR_VERSION}-n${o.events}-s${o.seed}-u${o.users}-d${o.days}-${o.distribution}-${validity}.ndjson`;
}
