import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SHM_PREFIX, ShmRing, sweepStaleRings } from "../src/shm-ring.js";

const dir = mkdtempSync(join(tmpdir(), "shm-ring-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(path: string, offset: number, length: number): string {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b.toString();
  } finally {
    closeSync(fd);
  }
}

describe("ShmRing", () => {
  it("writes each batch into a free slot, reuses a slot once released, and goes inline when none fits", () => {
    const ring = new ShmRing(2, 8, dir);
    expect(statSync(ring.path).size).toBe(16);
    expect(statSync(ring.path).mode & 0o777).toBe(0o600);
    const a = ring.place(Buffer.from("aaaa\n"))!;
    const b = ring.place(Buffer.from("bbbbbbb\n"))!;
    expect([a.offset, b.offset]).toEqual([0, 8]);
    expect(read(ring.path, b.offset, b.length)).toBe("bbbbbbb\n");
    expect(ring.place(Buffer.from("c\n")), "every slot taken").toBeUndefined();
    ring.release(a.slot);
    ring.release(a.slot); // twice is harmless
    expect(ring.available).toBe(1);
    const c = ring.place(Buffer.from("c\n"))!;
    expect(c.offset).toBe(0);
    expect(read(ring.path, 0, 2)).toBe("c\n");
    ring.release(b.slot);
    expect(ring.place(Buffer.from("123456789")), "larger than a slot").toBeUndefined();
    expect(ring.place(Buffer.alloc(0)), "nothing to place").toBeUndefined();
    expect(ring.available).toBe(1);
    ring.close();
    expect(existsSync(ring.path)).toBe(false);
    expect(ring.place(Buffer.from("x\n")), "closed").toBeUndefined();
  });

  it("stops taking batches, saying why, when a write fails", () => {
    const ring = new ShmRing(2, 8, dir);
    closeSync((ring as unknown as { fd: number }).fd); // the write now fails (EBADF), as on a full tmpfs
    expect(ring.place(Buffer.from("a\n"))).toBeUndefined();
    expect(ring.failure).toMatch(/^writing 2 bytes at offset 0 of .*modular-runtime-ingest-.* failed: EBADF/);
    expect(existsSync(ring.path)).toBe(false);
    expect(ring.place(Buffer.from("a\n"))).toBeUndefined();
  });

  it("reports why it cannot make a ring instead of throwing", () => {
    expect(ShmRing.tryCreate(2, 8, join(dir, "missing")).error).toMatch(/does not exist/);
    const made = ShmRing.tryCreate(1, 8, dir);
    expect(made.ring).toBeDefined();
    made.ring!.close();
  });
});

describe("sweepStaleRings", () => {
  it("removes rings of ingest processes that are gone and keeps the rest", () => {
    const names = [`${SHM_PREFIX}111-a-0`, `${SHM_PREFIX}222-b-0`, `${SHM_PREFIX}x-c-0`, "other-333"];
    for (const n of names) writeFileSync(join(dir, n), "");
    const removed = sweepStaleRings(dir, (pid) => pid === 222);
    expect(removed).toEqual([join(dir, names[0]!)]);
    expect(names.slice(1).every((n) => existsSync(join(dir, n)))).toBe(true);
  });
});
