// A layered left-to-right layout whose positions stay put: callers left, callees right. A name
// keeps its slot for the session, so a restarted instance (new id, same name) appears exactly
// where its predecessor was and nothing jumps when nodes come and go.

export interface Point {
  x: number;
  y: number;
}

export const COLUMN_WIDTH = 440;
export const ROW_HEIGHT = 170;

export class StableLayout {
  private readonly positions = new Map<string, Point & { layer: number; row: number }>();
  /** Rows taken in each layer (also by names that are gone for now, so they can come back). */
  private readonly taken = new Map<number, Set<number>>();

  /** Layer of every name: 0 for names nobody calls, else 1 + the deepest caller's layer. */
  static layers(names: string[], edges: { source: string; target: string }[]): Map<string, number> {
    const known = new Set(names);
    const callers = new Map<string, string[]>();
    for (const e of edges) {
      if (!known.has(e.source) || !known.has(e.target) || e.source === e.target) continue;
      const list = callers.get(e.target) ?? [];
      list.push(e.source);
      callers.set(e.target, list);
    }
    const layer = new Map<string, number>();
    const visiting = new Set<string>();
    const depth = (n: string): number => {
      const cached = layer.get(n);
      if (cached !== undefined) return cached;
      if (visiting.has(n)) return 0; // a cycle: break it
      visiting.add(n);
      let d = 0;
      for (const c of callers.get(n) ?? []) d = Math.max(d, depth(c) + 1);
      visiting.delete(n);
      layer.set(n, d);
      return d;
    };
    for (const n of [...names].sort()) depth(n);
    return layer;
  }

  /**
   * Positions for the given names. A new name gets a free row of its layer — its caller's row
   * when that is free, so a chain of services lines up in one row — and a known name keeps its
   * position (also after it was gone for a while) unless its layer changed, e.g. when a server
   * registered before its first caller.
   */
  place(names: string[], edges: { source: string; target: string }[]): Map<string, Point> {
    const layers = StableLayout.layers(names, edges);
    const callers = new Map<string, string[]>();
    for (const e of edges) callers.set(e.target, [...(callers.get(e.target) ?? []), e.source]);
    // Callers first, so their rows are known when their callees are placed.
    const order = [...names].sort((a, b) => (layers.get(a) ?? 0) - (layers.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
    for (const n of order) {
      const l = layers.get(n) ?? 0;
      const known = this.positions.get(n);
      if (known && known.layer === l) continue;
      if (known) this.taken.get(known.layer)?.delete(known.row);
      const rows = this.taken.get(l) ?? new Set<number>();
      this.taken.set(l, rows);
      const callerRows = (callers.get(n) ?? []).flatMap((c) => {
        const p = this.positions.get(c);
        return p && p.layer < l ? [p.row] : [];
      });
      const preferred = callerRows.length ? Math.min(...callerRows) : undefined;
      let row = preferred ?? 0;
      if (rows.has(row)) {
        row = 0;
        while (rows.has(row)) row++;
      }
      rows.add(row);
      this.positions.set(n, { x: l * COLUMN_WIDTH, y: row * ROW_HEIGHT, layer: l, row });
    }
    const out = new Map<string, Point>();
    for (const n of names) {
      const p = this.positions.get(n)!;
      out.set(n, { x: p.x, y: p.y });
    }
    return out;
  }
}
