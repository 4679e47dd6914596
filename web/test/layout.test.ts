import { describe, expect, it } from "vitest";
import { COLUMN_WIDTH, ROW_HEIGHT, StableLayout } from "../src/layout";

const e = (source: string, target: string) => ({ source, target });

describe("StableLayout", () => {
  it("puts callers left of callees, by longest path", () => {
    const layers = StableLayout.layers(["ingest", "parse", "rules", "sink", "aux"], [e("ingest", "parse"), e("parse", "rules"), e("rules", "sink"), e("ingest", "sink")]);
    expect(Object.fromEntries(layers)).toEqual({ aux: 0, ingest: 0, parse: 1, rules: 2, sink: 3 });
  });

  it("survives cycles", () => {
    const layers = StableLayout.layers(["a", "b"], [e("a", "b"), e("b", "a")]);
    expect(layers.size).toBe(2);
  });

  it("keeps positions when nodes come and go, and gives a returning name its old place", () => {
    const l = new StableLayout();
    const first = l.place(["client", "server", "batch"], [e("client", "server"), e("batch", "server")]);
    expect(first.get("server")).toEqual({ x: COLUMN_WIDTH, y: 0 });
    expect(first.get("batch")).toEqual({ x: 0, y: 0 });
    expect(first.get("client")).toEqual({ x: 0, y: ROW_HEIGHT });
    // client disappears (killed), a new service arrives, client comes back.
    const without = l.place(["server", "batch", "extra"], [e("batch", "server")]);
    expect(without.get("batch")).toEqual(first.get("batch"));
    expect(without.get("server")).toEqual(first.get("server"));
    const back = l.place(["client", "server", "batch", "extra"], [e("client", "server"), e("batch", "server")]);
    expect(back.get("client")).toEqual(first.get("client"));
    expect(back.get("extra")).not.toEqual(back.get("client"));
  });

  it("moves a server that registered before its first caller once, into its proper layer", () => {
    const l = new StableLayout();
    expect(l.place(["server"], []).get("server")).toEqual({ x: 0, y: 0 });
    const p = l.place(["server", "client"], [e("client", "server")]);
    expect(p.get("server")!.x).toBe(COLUMN_WIDTH);
    expect(p.get("client")!.x).toBe(0);
  });
});

describe("StableLayout rows", () => {
  it("lines a chain up in its head's row, beside other services", () => {
    const l = new StableLayout();
    const names = ["calculator-batch", "calculator-client", "calculator-server", "ingest", "parse", "rules", "aggregate", "sink"];
    const edges = [
      e("calculator-batch", "calculator-server"), e("calculator-client", "calculator-server"),
      e("ingest", "parse"), e("parse", "rules"), e("rules", "aggregate"), e("aggregate", "sink"),
    ];
    const p = l.place(names, edges);
    const row = (n: string) => p.get(n)!.y / ROW_HEIGHT;
    expect(["ingest", "parse", "rules", "aggregate", "sink"].map(row)).toEqual([2, 2, 2, 2, 2]);
    expect(["calculator-batch", "calculator-client", "calculator-server"].map(row)).toEqual([0, 1, 0]);
  });

  it("takes the next free row when the caller's row is taken", () => {
    const l = new StableLayout();
    const p = l.place(["a", "b", "x", "y"], [e("a", "x"), e("a", "y")]);
    expect([p.get("x")!.y, p.get("y")!.y]).toEqual([0, ROW_HEIGHT]);
  });
});
