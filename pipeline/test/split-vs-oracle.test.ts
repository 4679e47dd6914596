// The split pipeline (ingest TS → parse Rust → rules Python → aggregate Go → sink TS, five
// supervised processes under a headless control server) must agree byte for byte with the
// DuckDB oracle — results.json identical, dead letters identical in line and reason — for the
// monolith's corpus, batch sizes 1, 10, 1000 and 10000 and 1..8 partitions; and every boundary
// must turn bad input into a clear error naming the stage.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import {
  AggregateService,
  IngestService,
  ParseService,
  RulesService,
  SinkService,
  StageRequestSchema,
  type StageRequest,
} from '@modular-runtime/proto/pipeline/v1/pipeline';
import { LoadGeneratorService } from '@modular-runtime/proto/runtime/v1/load';
import { LoggerService } from '@modular-runtime/proto/runtime/v1/logger';
import { SupervisorService } from '@modular-runtime/proto/runtime/v1/supervisor';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSplit, runThroughStages, SplitError, SplitStack, stageAddresses } from '../src/engines/split-runner.js';
import { generate } from '../src/generate/generator.js';
import { checkRules, DEFAULT_RULES } from '../src/rules.js';
import { CASES, RULES, TYPES } from './corpus.js';
import { EDGE_CASES } from './edge-cases.js';
import { fuzzLines } from './fuzz-lines.js';
import { oracleOnFile, readOutput, tempDir } from './helpers.js';

const dir = tempDir('pipeline-split-');
let stack: SplitStack;

beforeAll(async () => {
  await buildSplit({ quiet: true });
  stack = await SplitStack.start({ timeoutMs: 120_000 });
}, 600_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let runNo = 0;
async function splitOnFile(input: string, rules: unknown, opts: { batchSize?: number; partitions?: number; inlineLines?: boolean } = {}) {
  const out = join(dir, `out-${++runNo}`);
  const rulesJson = JSON.stringify(rules === undefined ? DEFAULT_RULES : checkRules(rules));
  const complete = await runThroughStages(stack.url, { input, out, rulesJson, progress: false, ...opts });
  return { ...readOutput(out), complete };
}

async function compare(input: string, rules: unknown, opts: { batchSize?: number; partitions?: number; inlineLines?: boolean } = {}) {
  const split = await splitOnFile(input, rules, opts);
  const ref = await oracleOnFile(input, rules);
  expect(split.results).toBe(ref.results);
  expect(split.deadLetters.map((d) => [d.line, d.reason])).toEqual(ref.deadLetters.map((d) => [d.line, d.reason]));
  expect(split.complete.stages.map((s) => s.stage)).toEqual(['ingest', 'parse', 'rules', 'aggregate', 'sink']);
  return split.complete;
}

/** How ingest sent a run's lines: the fields of its "run complete" log line (sharedBatches, inlineBatches). */
async function lineTransport(runId: string): Promise<Record<string, string>> {
  const logger = createClient(LoggerService, createConnectTransport({ baseUrl: stack.url, httpVersion: '1.1' }));
  for (let i = 0; i < 100; i++) {
    const res = await logger.queryLogs({ filter: { serviceNames: ['ingest'], correlationId: runId, text: 'run complete' } });
    if (res.entries.length) return res.entries.at(-1)!.fields;
    await new Promise((r) => setTimeout(r, 50)); // the line is on its way from ingest's stdout
  }
  throw new Error(`ingest logged no "run complete" for run ${runId}`);
}

describe('split vs duckdb, byte for byte', () => {
  CASES.forEach((c, i) => {
    const batchSizes = c.events <= 1000 ? [1, 10, 1000, 10_000] : [1000, 10_000];
    const batchSize = batchSizes[i % batchSizes.length];
    const partitions = (i % 8) + 1;
    it(`${c.events} lines, seed ${c.seed}, ${c.distribution}, invalid ${c.ratio}, rules ${c.rules}, batch ${batchSize}, ${partitions} partitions`, async () => {
      const input = join(dir, `${c.events}-${c.seed}-${c.distribution}-${c.ratio}.ndjson`);
      await generate({ events: c.events, seed: c.seed, users: c.users ?? 10_000, distribution: c.distribution, invalidRatio: c.ratio, types: TYPES, out: input });
      await compare(input, RULES[c.rules], { batchSize, partitions });
    }, 120_000);
  });

  it('every batch size (1, 10, 1000, 10000) with every partition count (1..8)', async () => {
    const input = join(dir, 'matrix.ndjson');
    await generate({ events: 3000, seed: 99, users: 300, distribution: 'zipf', invalidRatio: 0.1, types: TYPES, out: input });
    const rules = RULES.inPrefixOverride300;
    const ref = await oracleOnFile(input, rules);
    const runs: [number, number][] = [
      ...[10, 1000, 10_000].flatMap((b) => [1, 2, 3, 4, 5, 6, 7, 8].map((p): [number, number] => [b, p])),
      [1, 1], [1, 3], [1, 8],
    ];
    for (const [batchSize, partitions] of runs) {
      const split = await splitOnFile(input, rules, { batchSize, partitions });
      expect({ batchSize, partitions, results: split.results }).toEqual({ batchSize, partitions, results: ref.results });
      expect(split.deadLetters.map((d) => [d.line, d.reason])).toEqual(ref.deadLetters.map((d) => [d.line, d.reason]));
    }
  }, 300_000);

  for (const seed of [1, 2, 3]) {
    it(`20k fuzzed lines, seed ${seed}`, async () => {
      const input = join(dir, `fuzz-${seed}.ndjson`);
      writeFileSync(input, fuzzLines(seed, 20000).join('\n') + '\n');
      await compare(input, undefined, { batchSize: [1000, 10, 10_000][seed - 1] });
    }, 60_000);
  }

  it('the lines inline in the stream (--inline-lines) give the same bytes as through shared memory', async () => {
    const c = CASES.find((x) => x.ratio > 0 && x.events > 1000)!;
    const input = join(dir, `inline-${c.events}-${c.seed}.ndjson`);
    await generate({ events: c.events, seed: c.seed, users: c.users ?? 10_000, distribution: c.distribution, invalidRatio: c.ratio, types: TYPES, out: input });
    const inline = await compare(input, RULES[c.rules], { batchSize: 1000, inlineLines: true });
    expect(await lineTransport(inline.runId)).toMatchObject({ sharedBatches: '0', inlineBatches: String(inline.batches) });
    const shared = await compare(input, RULES[c.rules], { batchSize: 1000 });
    expect(await lineTransport(shared.runId)).toMatchObject({ sharedBatches: String(shared.batches), inlineBatches: '0' });
  }, 120_000);

  it('every edge case of the corpus, under three rule sets', async () => {
    for (const e of EDGE_CASES) {
      const input = join(dir, `edge-${EDGE_CASES.indexOf(e)}.ndjson`);
      writeFileSync(input, e.input);
      for (const r of [undefined, RULES.inPrefixOverride300, RULES.stringsAndHours]) {
        const split = await splitOnFile(input, r, { batchSize: 3 });
        const ref = await oracleOnFile(input, r);
        expect({ edge: e.name, results: split.results }).toEqual({ edge: e.name, results: ref.results });
        expect({ edge: e.name, dead: split.deadLetters.map((d) => [d.line, d.reason]) }).toEqual({ edge: e.name, dead: ref.deadLetters.map((d) => [d.line, d.reason]) });
      }
    }
  }, 180_000);
});

describe('bad input at every boundary', () => {
  const header = (outDir = join(dir, 'bad-out')): StageRequest =>
    create(StageRequestSchema, { kind: { case: 'header', value: { runId: 'bad-input-test', rulesJson: JSON.stringify(DEFAULT_RULES), outDir, startedUnixNs: 1n } } });
  const batch = (value: Record<string, unknown>): StageRequest => create(StageRequestSchema, { kind: { case: 'batch', value: { meta: { traceId: 1n }, counters: { lines: 1n }, ...value } } });

  async function streamError(service: typeof ParseService | typeof RulesService | typeof AggregateService | typeof SinkService, stage: string, requests: StageRequest[]): Promise<ConnectError> {
    const address = (await stageAddresses(stack.url)).get(stage)!;
    const client = createClient(service, createGrpcTransport({ baseUrl: `http://${address}`, readMaxBytes: 256 << 20, writeMaxBytes: 256 << 20, nodeOptions: { maxSessionMemory: 1024 } }));
    async function* source() {
      yield* requests;
      await new Promise((r) => setTimeout(r, 10_000)); // keep the stream open: the stage must fail it
    }
    try {
      for await (const res of client.process(source(), { timeoutMs: 20_000 })) void res;
    } catch (e) {
      return ConnectError.from(e);
    }
    throw new Error(`${stage} accepted the bad stream`);
  }

  it('parse refuses a shared-memory slice outside its rings, naming the batch and the path', async () => {
    const slice = (path: string, offset = 0n, length = 3n) =>
      batch({ payload: { case: 'raw', value: { lineNumbers: new Uint8Array(8), shared: { path, offset, length } } } });
    let e = await streamError(ParseService, 'parse', [header(), slice('/etc/passwd')]);
    expect([Code[e.code], e.rawMessage]).toEqual(['InvalidArgument', 'parse: batch 1: shared-memory path "/etc/passwd" is not a file /dev/shm/modular-runtime-ingest-…']);
    e = await streamError(ParseService, 'parse', [header(), slice('/dev/shm/modular-runtime-ingest-0-gone')]);
    expect([Code[e.code], e.rawMessage]).toEqual(['FailedPrecondition', expect.stringMatching(/^parse: batch 1: cannot map shared-memory file "\/dev\/shm\/modular-runtime-ingest-0-gone": No such file/)]);
  }, 60_000);

  it('an unknown rule op fails the run with INVALID_ARGUMENT from the rules stage', async () => {
    const input = join(dir, 'small.ndjson');
    writeFileSync(input, '{"ts":"2026-01-01T00:00:00Z","type":"click","user":"u1","value":1}\n');
    const err = await runThroughStages(stack.url, {
      input, out: join(dir, 'bad-rules'), progress: false,
      rulesJson: JSON.stringify({ drop: [{ field: 'type', op: 'like', value: 'x' }] }),
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SplitError);
    expect((err as SplitError).message).toMatch(/^split run failed \[InvalidArgument\]: ingest: parse failed: parse: rules failed: rules: drop\[0\]: unknown op "like"/);
  }, 60_000);

  it('a malformed batch is refused by each stage with INVALID_ARGUMENT naming the stage', async () => {
    let e = await streamError(ParseService, 'parse', [header(), batch({ payload: { case: 'raw', value: { data: new TextEncoder().encode('{}\n{}\n'), lineNumbers: new Uint8Array(7) } } })]);
    expect([Code[e.code], e.rawMessage]).toEqual(['InvalidArgument', expect.stringMatching(/^parse: batch 1: /)]);
    e = await streamError(RulesService, 'rules', [header(), batch({ payload: { case: 'events', value: { count: 2, value: new Uint8Array(4), tsSeconds: new Uint8Array(16), typeIndex: new Uint8Array(8), userIndex: new Uint8Array(8), typeDict: [new Uint8Array(1)], userDict: [new Uint8Array(1)] } } })]);
    expect([Code[e.code], e.rawMessage]).toEqual(['InvalidArgument', expect.stringMatching(/^rules: batch 1: /)]);
    e = await streamError(AggregateService, 'aggregate', [header(), batch({ payload: { case: 'events', value: { count: 1, value: new Uint8Array(4), tsSeconds: new Uint8Array(8), typeIndex: new Uint8Array(4), userIndex: new Uint8Array(4), typeDict: [], userDict: [] } } })]);
    expect([Code[e.code], e.rawMessage]).toEqual(['InvalidArgument', expect.stringMatching(/^aggregate: batch 1: /)]);
    e = await streamError(SinkService, 'sink', [header(), batch({ meta: { traceId: 5n } })]);
    expect([Code[e.code], e.rawMessage]).toEqual(['InvalidArgument', 'sink: batch 5: expected batch 1 (batches must arrive in order)']);
  }, 120_000);

  it('a stream that does not start with a header is refused with FAILED_PRECONDITION', async () => {
    for (const [service, stage] of [[ParseService, 'parse'], [RulesService, 'rules'], [AggregateService, 'aggregate'], [SinkService, 'sink']] as const) {
      const e = await streamError(service, stage, [batch({})]);
      expect([stage, Code[e.code], e.rawMessage.startsWith(`${stage}: `)]).toEqual([stage, 'FailedPrecondition', true]);
    }
  }, 120_000);

  it('an oversized message is refused with RESOURCE_EXHAUSTED, naming the limit', async () => {
    const big = batch({ payload: { case: 'raw', value: { data: new Uint8Array(65 << 20), lineNumbers: new Uint8Array(8) } } });
    for (const [service, stage] of [[ParseService, 'parse'], [RulesService, 'rules'], [AggregateService, 'aggregate'], [SinkService, 'sink']] as const) {
      const e = await streamError(service, stage, [header(), big]);
      // grpcio and grpc-go refuse it in the library, before the stage's code sees it, and answer
      // themselves; parse and sink name the stage.
      const who = { parse: 'parse: ', rules: 'SERVER: ', aggregate: 'grpc: ', sink: 'sink: ' }[stage];
      expect([stage, Code[e.code], e.rawMessage]).toEqual([stage, 'ResourceExhausted', expect.stringMatching(new RegExp(`^${who}.*68157\\d+ .*67108864`))]);
    }
  }, 60_000);

  it('a stage that is down: the run waits for it and completes once it is back', async () => {
    const supervisor = createClient(SupervisorService, createConnectTransport({ baseUrl: stack.url, httpVersion: '1.1' }));
    const input = join(dir, 'down.ndjson');
    await generate({ events: 5000, seed: 5, users: 100, distribution: 'uniform', invalidRatio: 0.05, types: TYPES, out: input });
    await supervisor.stopProcess({ name: 'aggregate' });
    const run = splitOnFile(input, undefined, { batchSize: 500 });
    await new Promise((r) => setTimeout(r, 1500));
    await supervisor.startProcess({ name: 'aggregate' });
    const split = await run;
    const ref = await oracleOnFile(input, undefined);
    expect(split.results).toBe(ref.results);
  }, 90_000);
});

describe('load on the pipeline', () => {
  it('the load generator publishes into ingest\'s live run and every published line reaches the sink', async () => {
    const load = createClient(LoadGeneratorService, createConnectTransport({ baseUrl: stack.url, httpVersion: '1.1' }));
    let last;
    for await (const m of load.startLoad({ targetService: 'ingest', requestsPerSecond: 50, durationSeconds: 2 })) last = m;
    expect(last!.requestsFailed).toBe(0n);
    expect(last!.requestsSucceeded).toBeGreaterThanOrEqual(90n);
    // Within the live run's idle time: one more line, ending the run, must find all of them.
    const ingest = createClient(IngestService, createGrpcTransport({ baseUrl: `http://${(await stageAddresses(stack.url)).get('ingest')}` }));
    const end = await ingest.publish({ lines: new TextEncoder().encode('{"ts":"2026-01-01T00:00:00Z","type":"click","user":"u1","value":1}\n'), endRun: true });
    expect(end.complete).toMatchObject({ lines: last!.requestsSucceeded * 100n + 1n, invalid: 0n });
    expect(end.complete!.checksum).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);
});
