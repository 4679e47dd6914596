// Where the benchmark lives, for the CLI and for the control server that runs it.
import { join } from 'node:path';
import { REPO_ROOT } from '../engines/monolith-runner.js';

/** The pipeline CLI; `node --import tsx PIPELINE_CLI bench …` is the one benchmark code path. */
export const PIPELINE_CLI = join(REPO_ROOT, 'pipeline/src/cli.ts');
/** The CLI bundled by esbuild, and the script that (re)builds it; the benchmark's runs use it. */
export const PIPELINE_BUNDLE = join(REPO_ROOT, 'pipeline/dist/cli.mjs');
export const CLI_BUNDLE_SCRIPT = join(REPO_ROOT, 'scripts/build.d/cli.sh');
/** The history both the CLI and `npm start`'s control server use by default. */
export const DEFAULT_HISTORY_DIR = join(REPO_ROOT, '.runtime/bench/history');
/** The repository root (the bench's working directory). */
export { REPO_ROOT };
