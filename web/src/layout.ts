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
  private readonly positions = new Map<string, Point & { layer: number }>();
  private readonly rowsUsed = new Map<number, number>();

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
   * Positions for the given names. A new name gets the next free row of its layer; a known name
   * keeps its position (also after it was gone for a while) unless its layer changed, e.g. when
   * a server registered before its first caller.
   */
  place(names: string[], edges: { source: string; target: string }[]): Map<string, Point> {
    const layers = StableLayout.layers(names, edges);
    for (const n of [...names].sort()) {
      const l = layers.get(n) ?? 0;
      const known = this.positions.get(n);
      if (known && known.layer === l) continue;
      const row = this.rowsUsed.get(l) ?? 0;
      this.rowsUsed.set(l, row + 1);
      this.positions.set(n, { x: l * COLUMN_WIDTH, y: row * ROW_HEIGHT, layer: l });
    }
    const out = new Map<string, Point>();
    for (const n of names) {
      const p = this.positions.get(n)!;
      out.set(n, { x: p.x, y: p.y });
    }
    return out;
  }
}
