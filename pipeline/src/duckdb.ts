// DuckDB's native module, loaded on first use: it takes about 0.3 CPU-s to load, which the
// split and monolith runs (and the benchmark's runs of them) should not pay.
let loaded: Promise<typeof import('@duckdb/node-api')> | undefined;

export function loadDuckdb(): Promise<typeof import('@duckdb/node-api')> {
  return (loaded ??= import('@duckdb/node-api'));
}
