// The §4.3/§4.4 computation expressed in DuckDB SQL: drop rules, tags, and the four groupings.
// Input is a relation `events(epoch BIGINT, type VARCHAR, "user" VARCHAR, v INTEGER)` of valid
// events; sorting by key bytes happens in results.ts, not in SQL.
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Condition, Rules } from '../rules.js';
import type { Group, WindowGroup } from '../results.js';

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

export interface SqlAggregates {
  aggregated: number;
  byType: Group[];
  byUser: Group[];
  byTag: Group[];
  byWindow: WindowGroup[];
}

async function groups(conn: DuckDBConnection, sql: string): Promise<Group[]> {
  // getColumns() converts far faster than getRows() for large results.
  const cols = (await conn.runAndReadAll(sql)).getColumns();
  if (cols.length === 0) return []; // an empty result has no column chunks
  const [keys, counts, sums, mins, maxs] = cols;
  const out: Group[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    out[i] = { key: keys[i] as string, count: counts[i] as bigint, sum: sums[i] as bigint, min: mins[i] as number, max: maxs[i] as number };
  }
  return out;
}

/** Runs the rules and aggregations over relation `events`; returns unsorted groups. */
export async function aggregateEvents(conn: DuckDBConnection, rules: Rules): Promise<SqlAggregates> {
  const drop = rules.drop.length === 0 ? 'FALSE' : rules.drop.map(conditionSql).join(' OR ');
  await conn.run(`CREATE OR REPLACE TEMP TABLE kept AS SELECT epoch, type, "user", v FROM events WHERE NOT (${drop})`);
  const n = await conn.runAndReadAll('SELECT count(*) FROM kept');
  const aggregated = Number(n.getRows()[0][0] as bigint);

  const byType = await groups(conn, 'SELECT type, count(*), sum(v), min(v), max(v) FROM kept GROUP BY type');
  const byUser = await groups(conn, 'SELECT "user", count(*), sum(v), min(v), max(v) FROM kept GROUP BY "user"');

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
      `SELECT tag, count(*), sum(v), min(v), max(v) FROM (${parts.join(' UNION ALL ')}) WHERE tag IS NOT NULL GROUP BY tag`,
    );
  }

  const ws = rules.windowSeconds;
  const wr = await conn.runAndReadAll(
    `SELECT epoch - (((epoch % ${ws}) + ${ws}) % ${ws}) AS start, type, count(*), sum(v) FROM kept GROUP BY start, type`,
  );
  const wcols = wr.getColumns();
  const [starts, wtypes, wcounts, wsums] = wcols.length === 0 ? [[], [], [], []] : wcols;
  const byWindow: WindowGroup[] = new Array(starts.length);
  for (let i = 0; i < starts.length; i++) {
    byWindow[i] = { start: Number(starts[i] as bigint), type: wtypes[i] as string, count: wcounts[i] as bigint, sum: wsums[i] as bigint };
  }
  await conn.run('DROP TABLE kept');
  return { aggregated, byType, byUser, byTag, byWindow };
}
