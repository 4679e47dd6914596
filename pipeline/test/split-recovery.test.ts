// Zero-loss recovery of the split pipeline (services/PIPELINE.md "Checkpoints and recovery"):
// a stage killed with SIGKILL at each edge of the checkpoint protocol — a barrier has arrived,
// the state is saved, the sink has written, ingest has not yet committed, the results are
// written but not yet confirmed — is restarted by the supervisor, and the run still ends with
// results and dead letters byte-identical to an uninterrupted run and the DuckDB oracle.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSplit, runThroughStages, SplitStack, SPLIT_CONFIG } from '../src/engines/split-runner.js';
import { REPO_ROOT } from '../src/engines/monolith-runner.js';
import { generate } from '../src/generate/generator.js';
import { DEFAULT_RULES } from '../src/rules.js';
import { TYPES } from './corpus.js';
import { oracleOnFile, readOutput, tempDir, type EngineOutput } from './helpers.js';

const dir = tempDir('pipeline-recovery-');
const input = join(dir, 'events.ndjson');
let expected: EngineOutput;

beforeAll(async () => {
  await buildSplit({ quiet: true });
  await generate({ events: 60_000, seed: 5, users: 2000, distribution: 'zipf', invalidRatio: 0.02, types: TYPES, out: input });
  expected = await oracleOnFile(input, DEFAULT_RULES);
}, 600_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** split.runtime.yaml with absolute paths and a crash point in one stage's environment. */
function crashConfig(stage: string, at: string, marker: string): string {
  const text = readFileSync(SPLIT_CONFIG, 'utf8')
    .replaceAll('cwd: ..', `cwd: ${JSON.stringify(REPO_ROOT)}`)
    .replace('dir: ../.runtime/split-logs', `dir: ${JSON.stringify(join(dir, 'logs'))}`)
    .replace(`- name: ${stage}\n`, `- name: ${stage}\n    env: { MR_CRASH_AT: ${JSON.stringify(at)}, MR_CRASH_MARKER: ${JSON.stringify(marker)} }\n`);
  const path = join(dir, `${stage}-${at.replace(':', '-')}.yaml`);
  writeFileSync(path, text);
  return path;
}

const EDGES: [stage: string, at: string, edge: string][] = [
  ['parse', 'barrier:2', 'parse, as a barrier arrives'],
  ['rules', 'barrier:2', 'rules, as a barrier arrives'],
  ['aggregate', 'barrier:2', 'aggregate, after a barrier arrives, before its state is saved'],
  ['aggregate', 'saved:2', 'aggregate, after its state is saved, before the barrier goes on'],
  ['sink', 'saved:2', 'the sink, after it wrote its state, before it confirms the checkpoint'],
  ['ingest', 'commit:2', 'ingest, after the checkpoint is confirmed, before it commits'],
  ['sink', 'end:0', 'the sink, after it wrote the results, before it confirms the run'],
];

describe('kill -9 at every checkpoint edge, results identical', () => {
  for (const [stage, at, edge] of EDGES) {
    it(`${edge} (${stage} ${at})`, async () => {
      const marker = join(dir, `crashed-${stage}-${at.replace(':', '-')}`);
      const stack = await SplitStack.start({ config: crashConfig(stage, at, marker), timeoutMs: 120_000 });
      try {
        const out = join(dir, `out-${stage}-${at.replace(':', '-')}`);
        const complete = await runThroughStages(stack.url, {
          input,
          out,
          rulesJson: JSON.stringify(DEFAULT_RULES),
          batchSize: 500,
          checkpointIntervalMs: 20,
          progress: false,
        });
        // the crash really happened, and the run needed another attempt for it
        expect(existsSync(marker)).toBe(true);
        expect(complete.attempts).toBeGreaterThanOrEqual(2);
        const got = readOutput(out);
        expect(got.results).toBe(expected.results);
        // every dead letter once, in order (the detail text is free, line and reason are not)
        expect(got.deadLetters.map((d) => [d.line, d.reason])).toEqual(expected.deadLetters.map((d) => [d.line, d.reason]));
      } finally {
        await stack.stop();
      }
    }, 180_000);
  }
});
