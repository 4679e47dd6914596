// `run --mode monolith`: builds the C++ binary if needed (cpp/scripts/build.sh is idempotent) and
// runs it; the binary writes results.json, dead-letters.ndjson and metrics.json itself.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder above `from` holding pnpm-workspace.yaml (the sources or the CLI bundle). */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) throw new Error(`pipeline: no pnpm-workspace.yaml above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
export const MONOLITH_BIN = join(REPO_ROOT, 'cpp/build/release/monolith');
const BUILD_SCRIPT = join(REPO_ROOT, 'cpp/scripts/build.sh');

export class BuildError extends Error {}

/** Runs the idempotent release build; its output goes to our stderr. */
export function buildMonolith(opts: { quiet?: boolean } = {}): string {
  if (!existsSync(BUILD_SCRIPT)) {
    throw new BuildError(`cannot build the monolith: ${BUILD_SCRIPT} does not exist (is cpp/ checked out?)`);
  }
  const r = spawnSync('bash', [BUILD_SCRIPT, 'release'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', opts.quiet ? 'pipe' : process.stderr, opts.quiet ? 'pipe' : process.stderr],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    const tail = opts.quiet ? `\n${String(r.stderr ?? '').slice(-2000)}` : '';
    throw new BuildError(`monolith build failed (bash cpp/scripts/build.sh release exited ${r.status ?? r.signal})${tail}`);
  }
  if (!existsSync(MONOLITH_BIN)) throw new BuildError(`monolith build succeeded but ${MONOLITH_BIN} is missing`);
  return MONOLITH_BIN;
}

export interface MonolithArgs {
  input: string;
  out: string;
  rules?: string;
  threads?: number;
  batchSize?: number;
  partitions?: number;
  controlUrl?: string;
}

export function monolithArgv(a: MonolithArgs): string[] {
  const argv = ['--input', a.input, '--out', a.out];
  if (a.rules !== undefined) argv.push('--rules', a.rules);
  if (a.threads !== undefined) argv.push('--threads', String(a.threads));
  if (a.batchSize !== undefined) argv.push('--batch-size', String(a.batchSize));
  if (a.partitions !== undefined) argv.push('--partitions', String(a.partitions));
  if (a.controlUrl !== undefined) argv.push('--control-url', a.controlUrl);
  return argv;
}

/** Runs the binary with inherited stdio; resolves with its exit code. */
export function runMonolith(bin: string, a: MonolithArgs): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, monolithArgv(a), { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
  });
}
