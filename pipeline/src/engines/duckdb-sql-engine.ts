// `run --mode duckdb-sql`: the "engine direct" baseline. Plain DuckDB SQL over an NDJSON file
// with read_ndjson and no pre-validation, so it is only correct on valid-only input (e.g. a file
// generated with --invalid-ratio 0). Same rules and output format as the other modes.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsParts } from '../results.js';
import type { Rules } from '../rules.js';
import { aggregateEvents } from './sql-aggregate.js';
import { writeOutputs, type RunOutcome } from './outputs.js';
import { loadDuckdb } from '../duckdb.js';

// epoch seconds of ts = seconds of the local date-time (fraction cut) minus the offset.
const EPOCH_SQL = `(epoch(strptime(substr(ts, 1, 19), '%Y-%m-%dT%H:%M:%S'))::BIGINT
  - CASE WHEN ends_with(ts, 'Z') THEN 0
         ELSE (CASE WHEN substr(ts, -6, 1) = '-' THEN -1 ELSE 1 END)
              * (substr(ts, -5, 2)::INTEGER * 3600 + substr(ts, -2, 2)::INTEGER * 60) END)`;

export async function runDuckdbSql(input: string, rules: Rules, outDir: string): Promise<RunOutcome> {
  const started = process.hrtime.bigint();
  const bytes = statSync(input).size;
  const instance = await (await loadDuckdb()).DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const path = input.replace(/'/g, "''");
    await conn.run(
      `CREATE TABLE events AS SELECT ${EPOCH_SQL} AS epoch, type, "user", "value" AS v FROM read_ndjson('${path}', ` +
        `columns = {'ts': 'VARCHAR', 'type': 'VARCHAR', 'user': 'VARCHAR', 'value': 'INTEGER'})`,
    );
    const n = await conn.runAndReadAll('SELECT count(*) FROM events');
    const lines = Number(n.getRows()[0][0] as bigint);
    const agg = await aggregateEvents(conn, rules);
    const text = resultsParts({ lines, valid: lines, invalid: 0, dropped: lines - agg.aggregated, ...agg });
    writeFileSync(join(outDir, 'dead-letters.ndjson'), '');
    const finished = process.hrtime.bigint();
    return writeOutputs(outDir, text, {
      mode: 'duckdb-sql',
      lines,
      valid: lines,
      invalid: 0,
      bytes,
      wallNs: finished - started,
      extra: { note: 'plain SQL, no validation: valid-only input assumed' },
    });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
