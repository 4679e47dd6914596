// `run --mode duckdb`: the reference engine and test oracle. The TypeScript validator judges each
// line (SQL alone cannot apply §4.2), valid events go to DuckDB as integer rows plus string
// dictionaries, and DuckDB SQL applies the rules and computes every aggregate.
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameFile } from '../validate/line-reader.js';
import { validateLine } from '../validate/validator.js';
import { deadLetterLine, resultsParts, type Results } from '../results.js';
import type { Rules } from '../rules.js';
import { aggregateEvents } from './sql-aggregate.js';
import { writeOutputs, type RunOutcome } from './outputs.js';
import { loadDuckdb } from '../duckdb.js';

const FLUSH_CHARS = 1 << 22;

class Dictionary {
  readonly ids = new Map<string, number>();
  readonly values: string[] = [];
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(s, id);
      this.values.push(s);
    }
    return id;
  }
}

class BufferedWriter {
  private fd: number;
  private buf = '';
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(s: string): void {
    this.buf += s;
    if (this.buf.length > FLUSH_CHARS) this.flush();
  }
  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    this.buf = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Integer-only CSV rows written straight into a byte buffer (no per-row strings). */
class IntCsvWriter {
  private fd: number;
  private buf = Buffer.allocUnsafe(1 << 22);
  private pos = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  private int(n: number): void {
    const b = this.buf;
    if (n < 0) {
      b[this.pos++] = 45;
      n = -n;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    let q = this.pos + digits;
    this.pos = q;
    do {
      const d = n % 10;
      b[--q] = 48 + d;
      n = (n - d) / 10;
    } while (n > 0);
  }
  row(a: number, b: number, c: number, d: number): void {
    if (this.pos > this.buf.length - 128) this.flush();
    this.int(a);
    this.buf[this.pos++] = 44;
    this.int(b);
    this.buf[this.pos++] = 44;
    this.int(c);
    this.buf[this.pos++] = 44;
    this.int(d);
    this.buf[this.pos++] = 10;
  }
  flush(): void {
    let off = 0;
    while (off < this.pos) off += writeSync(this.fd, this.buf, off, this.pos - off);
    this.pos = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export async function runDuckdb(input: string, rules: Rules, outDir: string): Promise<RunOutcome> {
  const started = process.hrtime.bigint();
  const bytes = statSync(input).size;
  const tmp = mkdtempSync(join(tmpdir(), 'pipeline-duckdb-'));
  try {
    const csvPath = join(tmp, 'events.csv');
    const dlPath = join(outDir, 'dead-letters.ndjson');
    const csv = new IntCsvWriter(csvPath);
    const dead = new BufferedWriter(dlPath);
    const types = new Dictionary();
    const users = new Dictionary();
    let lines = 0;
    let valid = 0;
    let invalid = 0;
    frameFile(input, {
      line(buf, start, end, lineNo) {
        lines++;
        const r = validateLine(buf, start, end);
        if (r.ok) {
          valid++;
          csv.row(r.epoch, types.id(r.type), users.id(r.user), r.value);
        } else {
          invalid++;
          dead.write(deadLetterLine({ line: lineNo, reason: r.reason, detail: r.detail }));
        }
      },
      oversize(lineNo) {
        lines++;
        invalid++;
        dead.write(deadLetterLine({ line: lineNo, reason: 'invalid_json', detail: 'line longer than 1 MiB' }));
      },
    });
    csv.close();
    dead.close();
    const validated = process.hrtime.bigint();

    const instance = await (await loadDuckdb()).DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      await conn.run('CREATE TABLE types (id INTEGER, s VARCHAR)');
      await conn.run('CREATE TABLE users (id INTEGER, s VARCHAR)');
      for (const [table, dict] of [['types', types], ['users', users]] as const) {
        const app = await conn.createAppender(table);
        dict.values.forEach((s, i) => {
          app.appendInteger(i);
          app.appendVarchar(s);
          app.endRow();
        });
        app.closeSync();
      }
      await conn.run(
        `CREATE TABLE ev AS SELECT * FROM read_csv('${csvPath.replace(/'/g, "''")}', header = false, auto_detect = false, delim = ',', quote = '', escape = '', ` +
          `columns = {'epoch': 'BIGINT', 't': 'INTEGER', 'u': 'INTEGER', 'v': 'INTEGER'})`,
      );
      await conn.run(
        'CREATE TEMP VIEW events AS SELECT ev.epoch, ty.s AS type, us.s AS "user", ev.v FROM ev JOIN types ty ON ty.id = ev.t JOIN users us ON us.id = ev.u',
      );
      const agg = await aggregateEvents(conn, rules);
      const results: Results = { lines, valid, invalid, dropped: valid - agg.aggregated, ...agg };
      const text = resultsParts(results);
      const finished = process.hrtime.bigint();
      return writeOutputs(outDir, text, {
        mode: 'duckdb',
        lines,
        valid,
        invalid,
        bytes,
        wallNs: finished - started,
        extra: {
          validateSeconds: Number(validated - started) / 1e9,
          sqlSeconds: Number(finished - validated) / 1e9,
          duckdbVersion: await duckdbVersion(conn),
        },
      });
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function duckdbVersion(conn: { runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }> }): Promise<string> {
  const r = await conn.runAndReadAll('SELECT version()');
  return String(r.getRows()[0][0]);
}
