// Test helpers: run the DuckDB oracle (in-process) or the monolith binary on given bytes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDuckdb } from '../src/engines/duckdb-engine.js';
import { checkRules, DEFAULT_RULES } from '../src/rules.js';

export interface EngineOutput {
  results: string;
  deadLetters: { line: number; reason: string; detail: string }[];
}

export function tempDir(prefix = 'pipeline-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function readOutput(dir: string): EngineOutput {
  const results = readFileSync(join(dir, 'results.json'), 'utf8');
  const dl = readFileSync(join(dir, 'dead-letters.ndjson'), 'utf8');
  return {
    results,
    deadLetters: dl.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)),
  };
}

/** Runs the oracle on a file. */
export async function oracleOnFile(input: string, rules?: unknown): Promise<EngineOutput> {
  const out = tempDir();
  try {
    await runDuckdb(input, rules === undefined ? DEFAULT_RULES : checkRules(rules), out);
    return readOutput(out);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Runs the oracle on in-memory input bytes. */
export async function oracle(input: string | Buffer, rules?: unknown): Promise<EngineOutput> {
  const dir = tempDir();
  try {
    const path = join(dir, 'input.ndjson');
    writeFileSync(path, input);
    return await oracleOnFile(path, rules);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the monolith binary; rules (if any) are written to a file. */
export function monolithOnFile(bin: string, input: string, rules?: unknown): EngineOutput & { status: number | null; stderr: string } {
  const out = tempDir('pipeline-mono-');
  try {
    const args = ['--input', input, '--out', out];
    if (rules !== undefined) {
      const rp = join(out, 'rules.json');
      writeFileSync(rp, JSON.stringify(rules));
      args.push('--rules', rp);
    }
    mkdirSync(out, { recursive: true });
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    if (r.status !== 0) return { status: r.status, stderr: r.stderr, results: '', deadLetters: [] };
    return { status: 0, stderr: r.stderr, ...readOutput(out) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** One canonical event line. */
export function ev(ts: string, type: string, user: string, value: string | number, extra = ''): string {
  return `{"ts":"${ts}","type":"${type}","user":"${user}","value":${value}${extra}}`;
}
