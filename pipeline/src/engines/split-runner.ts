// `run --mode split`: the chain ingest (TS) → parse (Rust) → rules (Python) → aggregate (Go) →
// sink (TS). Uses the stages of a running control server (`npm start`) when it has them;
// otherwise builds them and starts a control server of its own, headless, on free ports with
// pipeline/split.runtime.yaml, which supervises the five processes for the length of the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { IngestService, type RunComplete, type RunProgress } from '@modular-runtime/proto/pipeline/v1/pipeline';
import { TopologyService } from '@modular-runtime/proto/runtime/v1/topology';
import { REPO_ROOT } from './monolith-runner.js';

export const STAGES = ['ingest', 'parse', 'rules', 'aggregate', 'sink'] as const;
const BUILD_SCRIPT = join(REPO_ROOT, 'scripts/build.d/split.sh');
export const SPLIT_CONFIG = join(REPO_ROOT, 'pipeline/split.runtime.yaml');
export const DEFAULT_CONTROL_URL = 'http://127.0.0.1:3000';

export class SplitError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface SplitArgs {
  input: string;
  out: string;
  /** Validated rules, already as JSON text. */
  rulesJson: string;
  batchSize?: number;
  partitions?: number;
  window?: number;
  passthrough?: boolean;
  /** Line data inside the ingest → parse stream's messages instead of shared memory. */
  inlineLines?: boolean;
  /** HTTP/1.1 URL of a control server whose stages to use. */
  controlUrl?: string;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  /**
   * Checkpoint the run so it survives the failure of any stage (default true): state under
   * .runtime/checkpoints/<run id>, removed when the run ends.
   */
  checkpoint?: boolean;
  checkpointIntervalMs?: number;
  /** Every RunProgress ingest sends, and how often it sends them (ms). */
  onProgress?: (p: RunProgress) => void;
  progressIntervalMs?: number;
}

export const CHECKPOINT_ROOT = join(REPO_ROOT, '.runtime/checkpoints');
/** How long the CLI waits for a restarted ingest before the run fails. */
const INGEST_RECOVERY_MS = 30_000;

/**
 * Builds parse (cargo), aggregate (go) and rules' generated code; idempotent and fast when nothing
 * changed. Asynchronous, so a caller's event loop (e.g. a test worker's) keeps running meanwhile.
 */
export async function buildSplit(opts: { quiet?: boolean } = {}): Promise<void> {
  const child = spawn('bash', [BUILD_SCRIPT], { cwd: REPO_ROOT, stdio: ['ignore', opts.quiet ? 'pipe' : 'inherit', opts.quiet ? 'pipe' : 'inherit'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  if (code !== 0) {
    const tail = opts.quiet ? `\n${output.slice(-2000)}` : '';
    throw new SplitError(`split build failed (bash scripts/build.d/split.sh exited ${code ?? signal})${tail}`, 2);
  }
}

/**
 * A Connect transport to a control server's HTTP port; with MR_CONTROL_TOKEN set (a
 * token-protected server), every call carries it as a bearer token.
 */
export function controlTransport(url: string) {
  const token = process.env.MR_CONTROL_TOKEN;
  const interceptors: Interceptor[] = token
    ? [(next) => (req) => {
        req.header.set('authorization', `Bearer ${token}`);
        return next(req);
      }]
    : [];
  return createConnectTransport({ baseUrl: url, httpVersion: '1.1', interceptors });
}

/** The control server's registry. */
function topologyClient(url: string) {
  return createClient(TopologyService, controlTransport(url));
}

/** The live stages (default: all five) a control server knows, by name, with address and pid; missing ones are absent. */
export async function stageInstances(url: string, timeoutMs = 2000, names: readonly string[] = STAGES): Promise<Map<string, { address: string; pid: number }>> {
  const topology = topologyClient(url);
  const found = new Map<string, { address: string; pid: number }>();
  await Promise.all(
    names.map(async (name) => {
      const res = await topology.lookupService({ name }, { timeoutMs });
      const inst = res.instances.find((i) => i.address !== '');
      if (inst) found.set(name, { address: inst.address, pid: inst.pid });
    }),
  );
  return found;
}

/** Addresses of the live stages a control server knows, by name; missing stages are absent. */
export async function stageAddresses(url: string, timeoutMs = 2000, names: readonly string[] = STAGES): Promise<Map<string, string>> {
  const found = await stageInstances(url, timeoutMs, names);
  return new Map([...found].map(([name, i]) => [name, i.address]));
}

/**
 * Polls a control server every `pollMs` until all five stages are registered or `timeoutMs`
 * has passed; resolves with the stages still missing (none: all there). `check` runs before
 * every poll and may throw to stop waiting (e.g. when the server itself exited).
 */
export async function awaitStages(url: string, opts: { timeoutMs: number; pollMs: number; check?: () => void }): Promise<string[]> {
  const deadline = Date.now() + opts.timeoutMs;
  let missing: string[] = [...STAGES];
  for (;;) {
    opts.check?.();
    try {
      const found = await stageAddresses(url, 1000);
      missing = STAGES.filter((s) => !found.has(s));
      if (missing.length === 0) return missing;
    } catch {
      // not listening yet
    }
    if (Date.now() >= deadline) return missing;
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
}

/** A headless control server running the five stages, for one CLI invocation or a benchmark. */
export class SplitStack {
  private constructor(readonly url: string, private readonly child: ChildProcess, private readonly output: () => string) {}

  static async start(opts: { config?: string; timeoutMs?: number; log?: (line: string) => void } = {}): Promise<SplitStack> {
    // Ports 0: the server binds ports the kernel picks and prints them. (Ports picked here and
    // freed for it could be taken by another process in between: CI saw that happen.)
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'server/src/main.ts'), '--config', opts.config ?? SPLIT_CONFIG, '--http-port', '0', '--h2c-port', '0'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    const check = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new SplitError(`the control server for the split stages exited (${child.exitCode ?? child.signalCode}):\n${output.slice(-3000)}`);
      }
    };
    let httpPort: string | undefined;
    while ((httpPort = /dashboard \+ Connect\/gRPC-Web\s+http:\/\/\S+:(\d+)/.exec(output)?.[1]) === undefined) {
      check();
      if (Date.now() >= deadline) {
        child.kill('SIGKILL');
        throw new SplitError(`the control server for the split stages did not say where it listens within ${(timeoutMs / 1000).toFixed(0)} s:\n${output.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const stack = new SplitStack(`http://127.0.0.1:${httpPort}`, child, () => output);
    const missing = await awaitStages(stack.url, { timeoutMs: Math.max(0, deadline - Date.now()), pollMs: 200, check });
    if (missing.length === 0) return stack;
    await stack.stop();
    throw new SplitError(`split stages did not all register within ${(timeoutMs / 1000).toFixed(0)} s; missing: ${missing.join(', ')}\n${output.slice(-3000)}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The control server's recent output (its supervisor reports every stage exit). */
  get recentOutput(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Sends the file through the chain served by `controlUrl`; resolves with the sink's RunComplete.
 * Ingest recovers from the failure of any later stage itself; when ingest dies, this resumes the
 * run through its restarted instance from the last committed checkpoint.
 */
export async function runThroughStages(controlUrl: string, a: SplitArgs, knownIngest?: string): Promise<RunComplete> {
  const runId = randomUUID();
  const checkpointDir = a.checkpoint === false ? '' : join(CHECKPOINT_ROOT, runId);
  const t0 = performance.now();
  let lastLine = 0;
  let resume = false;
  let failingSince = 0;
  try {
    for (;;) {
      // a caller that has just looked the stages up saves a round trip; after a failure, ask again
      const ingest = knownIngest ?? (await ingestAddress(controlUrl, failingSince));
      knownIngest = undefined;
      const client = createClient(
        IngestService,
        createGrpcTransport({ baseUrl: `http://${ingest}`, readMaxBytes: 64 << 20, writeMaxBytes: 64 << 20 }),
      );
      try {
        for await (const p of client.run({
          inputPath: a.input,
          outDir: a.out,
          rulesJson: a.rulesJson,
          batchSize: a.batchSize ?? 0,
          partitions: a.partitions ?? 0,
          window: a.window ?? 0,
          passthrough: a.passthrough ?? false,
          inlineLines: a.inlineLines ?? false,
          checkpointDir,
          checkpointIntervalMs: a.checkpointIntervalMs ?? 0,
          progressIntervalMs: a.progressIntervalMs ?? 0,
          runId,
          resume,
        })) {
          failingSince = 0;
          a.onProgress?.(p);
          if (p.complete) return p.complete;
          if (a.progress !== false && performance.now() - lastLine >= 1000) {
            lastLine = performance.now();
            const secs = (performance.now() - t0) / 1000;
            const pct = p.inputBytes > 0n ? Number((p.bytesRead * 100n) / p.inputBytes) : 100;
            const recovered = p.attempt > 1 ? `, attempt ${p.attempt} (from checkpoint ${p.checkpoint})` : '';
            process.stderr.write(
              `split: ${Number(p.linesRead).toLocaleString('en-US')} lines read (${pct}% of the file), ${Number(p.batchesAcked)} batches acknowledged, ` +
                `${Math.round(Number(p.linesRead) / Math.max(secs, 1e-9)).toLocaleString('en-US')} lines/s${recovered}\n`,
            );
          }
        }
        throw new SplitError('split run failed: ingest ended the stream without a RunComplete');
      } catch (e) {
        if (e instanceof SplitError) throw e;
        const err = ConnectError.from(e);
        // ingest's own verdicts ("ingest: …") are final; a broken stream means ingest is gone
        if (checkpointDir === '' || err.rawMessage.startsWith('ingest:') || err.code === Code.InvalidArgument || err.code === Code.NotFound) {
          throw new SplitError(`split run failed [${Code[err.code]}]: ${err.rawMessage}`, err.code === Code.InvalidArgument || err.code === Code.NotFound ? 2 : 1);
        }
        if (failingSince === 0) failingSince = Date.now();
        if (Date.now() - failingSince > INGEST_RECOVERY_MS) {
          throw new SplitError(`split run failed: ingest did not come back within ${INGEST_RECOVERY_MS / 1000} s (${err.rawMessage})`);
        }
        if (a.progress !== false) process.stderr.write(`split: lost ingest (${err.rawMessage}); resuming the run from its last checkpoint\n`);
        resume = true;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  } finally {
    if (checkpointDir !== '') rmSync(checkpointDir, { recursive: true, force: true });
  }
}

/** The live ingest's address; while recovering, waits for a restarted one (polling every 20 ms). */
async function ingestAddress(controlUrl: string, failingSince: number): Promise<string> {
  for (;;) {
    // only ingest: this polls every 20 ms while ingest restarts
    const found = await stageAddresses(controlUrl, 2000, ['ingest']).catch(() => new Map<string, string>());
    const ingest = found.get('ingest');
    if (ingest) return ingest;
    if (failingSince === 0) throw new SplitError(`the control server at ${controlUrl} has no live ingest stage`);
    if (Date.now() - failingSince > INGEST_RECOVERY_MS) throw new SplitError(`split run failed: ingest did not come back within ${INGEST_RECOVERY_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The whole `run --mode split`: find or start the stages, run, report. */
export async function runSplit(a: SplitArgs & { build?: boolean }): Promise<RunComplete> {
  const url = a.controlUrl ?? process.env.MR_CONTROL_HTTP_URL ?? DEFAULT_CONTROL_URL;
  let found: Map<string, string> | undefined;
  try {
    found = await stageAddresses(url, 1000);
  } catch {
    found = undefined; // no control server there
  }
  if (found && found.size === STAGES.length) {
    process.stderr.write(`split: using the stages of the control server at ${url}\n`);
    return runThroughStages(url, a, found.get('ingest'));
  }
  if (a.controlUrl !== undefined) {
    const missing = found ? STAGES.filter((s) => !found!.has(s)).join(', ') : 'all (no control server answers there)';
    throw new SplitError(`--control-url ${url}: split stages missing: ${missing}`, 2);
  }
  if (a.build !== false) await buildSplit();
  process.stderr.write('split: starting a control server with the five stages (pipeline/split.runtime.yaml)\n');
  const stack = await SplitStack.start();
  try {
    return await runThroughStages(stack.url, a);
  } finally {
    await stack.stop();
  }
}
