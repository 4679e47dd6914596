// The §4.3/§4.4 computation expressed in DuckDB SQL: drop rules, tags, and the four groupings.
// Input is a relation `events(epoch BIGINT, type VARCHAR, "user" VARCHAR, v INTEGER)` of valid
// events; sorting by key bytes happens in results.ts, not in SQL.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Condition, Rules } from '../rules.js';
import { jsonString, type Aggregates, type Group, type WindowGroup } from '../results.js';

const YEAR_1 = -62135596800; // 0001-01-01T00:00:00Z
const YEAR_9999_END = 253402300799; // 9999-12-31T23:59:59Z

function sqlString(s: string): string {
  return "'" + s.replace(/'/g, "''") + "'";
}

function sqlScalar(v: string | number): string {
  return typeof v === 'number' ? `${v}::BIGINT` : sqlString(v);
}

const COLUMN: Record<Condition['field'], string> = { type: 'type', user: '"user"', value: 'v' };

export function conditionSql(c: Condition): string {
  const col = COLUMN[c.field];
  const lhs = c.field === 'value' ? `${col}::BIGINT` : col;
  switch (c.op) {
    case 'eq': return `(${lhs} = ${sqlScalar(c.value as string | number)})`;
    case 'ne': return `(${lhs} <> ${sqlScalar(c.value as string | number)})`;
    case 'lt': return `(${lhs} < ${sqlScalar(c.value as string | number)})`;
    case 'lte': return `(${lhs} <= ${sqlScalar(c.value as string | number)})`;
    case 'gt': return `(${lhs} > ${sqlScalar(c.value as string | number)})`;
    case 'gte': return `(${lhs} >= ${sqlScalar(c.value as string | number)})`;
    case 'in': {
      const vs = c.value as (string | number)[];
      return vs.length === 0 ? '(FALSE)' : `(${lhs} IN (${vs.map(sqlScalar).join(', ')}))`;
    }
    case 'prefix': return `starts_with(${col}, ${sqlString(c.value as string)})`;
  }
}

async function groups(conn: DuckDBConnection, sql: string): Promise<Group[]> {
  // getColumns() converts far faster than getRows() for large results.
  const cols = (await conn.runAndReadAll(sql)).getColumns();
  if (cols.length === 0) return []; // an empty result has no column chunks
  const [keys, counts, sums, mins, maxs] = cols;
  const out: Group[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    out[i] = { key: keys[i] as string, count: counts[i] as number, sum: sums[i] as string, min: mins[i] as number, max: maxs[i] as number };
  }
  return out;
}

/** Runs the rules and aggregations over relation `events`; returns unsorted groups. */
export async function aggregateEvents(conn: DuckDBConnection, rules: Rules): Promise<Aggregates> {
  const drop = rules.drop.length === 0 ? 'FALSE' : rules.drop.map(conditionSql).join(' OR ');
  await conn.run(`CREATE OR REPLACE TEMP TABLE kept AS SELECT epoch, type, "user", v FROM events WHERE NOT (${drop})`);
  const n = await conn.runAndReadAll('SELECT count(*) FROM kept');
  const aggregated = Number(n.getRows()[0][0] as bigint);

  // count as DOUBLE (exact below 2^53) and sum as VARCHAR (HUGEINT, exact) convert fast to JS.
  const AGG = 'count(*)::DOUBLE, sum(v)::VARCHAR, min(v), max(v)';
  const byType = await groups(conn, `SELECT type, ${AGG} FROM kept GROUP BY type`);
  const byUser = await groups(conn, `SELECT "user", ${AGG} FROM kept GROUP BY "user"`);

  // A later rule overrides an earlier one for the same tag name: CASE tries rules last-first.
  const names: string[] = [];
  for (const t of rules.tag) for (const name of Object.keys(t.set)) if (!names.includes(name)) names.push(name);
  let byTag: Group[] = [];
  if (names.length > 0) {
    const parts = names.map((name) => {
      const whens = rules.tag
        .map((t, i) => ({ t, i }))
        .filter(({ t }) => Object.prototype.hasOwnProperty.call(t.set, name))
        .reverse()
        .map(({ t }) => `WHEN ${conditionSql(t.when)} THEN ${sqlString(t.set[name])}`)
        .join(' ');
      return `SELECT ${sqlString(name + '=')} || (CASE ${whens} END) AS tag, v FROM kept`;
    });
    byTag = await groups(
      conn,
      `SELECT tag, ${AGG} FROM (${parts.join(' UNION ALL ')}) WHERE tag IS NOT NULL GROUP BY tag`,
    );
  }

  // Windows can be as many as events, so DuckDB sorts them: by start, then by the rank of the
  // type's UTF-8 bytes, ranked here with Buffer.compare (SQL collation is not trusted for that).
  const distinct = (await conn.runAndReadAll('SELECT DISTINCT type FROM kept')).getColumns();
  const typeList = ((distinct[0] ?? []) as string[]).map((t) => ({ t, b: Buffer.from(t, 'utf8') }));
  typeList.sort((x, y) => Buffer.compare(x.b, y.b));
  await conn.run('CREATE OR REPLACE TEMP TABLE type_rank (type VARCHAR, rank INTEGER, esc VARCHAR)');
  const app = await conn.createAppender('type_rank');
  typeList.forEach(({ t }, i) => {
    app.appendVarchar(t);
    app.appendInteger(i);
    app.appendVarchar(jsonString(t));
    app.endRow();
  });
  app.closeSync();
  const ws = rules.windowSeconds;
  const windows =
    `SELECT epoch - (((epoch % ${ws}) + ${ws}) % ${ws}) AS start, type, count(*) AS c, sum(v) AS s FROM kept GROUP BY start, type`;
  const range = (await conn.runAndReadAll('SELECT min(epoch), max(epoch) FROM kept')).getRows()[0];
  const lo = range[0] === null ? 0 : Number(range[0] as bigint) - ws;
  const hi = range[1] === null ? 0 : Number(range[1] as bigint);
  let byWindow: WindowGroup[] = [];
  let byWindowJson: string[] | undefined;
  if (lo >= YEAR_1 && hi <= YEAR_9999_END) {
    // The common case: DuckDB writes the byWindow array itself (strftime is exact for years
    // 0001–9999); types arrive pre-escaped from type_rank.
    // Rendered in chunks of 100k windows so no single JS string gets near V8's length limit.
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE wj AS SELECT row_number() OVER (ORDER BY w.start, r.rank) AS rn, ` +
        `'{"start":"' || strftime(make_timestamp(w.start * 1000000), '%Y-%m-%dT%H:%M:%SZ') || '","type":' || r.esc || ` +
        `',"count":' || w.c || ',"sum":' || w.s || '}' AS j FROM (${windows}) w JOIN type_rank r ON r.type = w.type`,
    );
    const r = await conn.runAndReadAll(`SELECT (rn - 1) // 100000 AS chunk, string_agg(j, ',' ORDER BY rn) FROM wj GROUP BY chunk ORDER BY chunk`);
    byWindowJson = r.getRows().map((row) => row[1] as string);
    await conn.run('DROP TABLE wj');
  } else {
    const wr = await conn.runAndReadAll(
      `SELECT w.start, w.type, w.c::DOUBLE, w.s::VARCHAR FROM (${windows}) w JOIN type_rank r ON r.type = w.type ORDER BY w.start, r.rank`,
    );
    const wcols = wr.getColumns();
    const [starts, wtypes, wcounts, wsums] = wcols.length === 0 ? [[], [], [], []] : wcols;
    byWindow = new Array(starts.length);
    for (let i = 0; i < starts.length; i++) {
      byWindow[i] = { start: Number(starts[i] as bigint), type: wtypes[i] as string, count: wcounts[i] as number, sum: wsums[i] as string };
    }
  }
  await conn.run('DROP TABLE kept');
  await conn.run('DROP TABLE type_rank');
  return { aggregated, byType, byUser, byTag, byWindow, byWindowJson };
}
