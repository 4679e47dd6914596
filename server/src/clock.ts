// Time as the control server sees it: a monotonic clock for every timeout decision (immune to
// wall-clock jumps) and the wall clock only for display. Injected so tests can use a fake.

export interface Clock {
  /** Monotonic milliseconds; only differences are meaningful. */
  now(): number;
  /** Unix milliseconds, for display and for messages that leave the process. */
  wallNow(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(
    private mono = 1_000_000,
    private wall = Date.UTC(2026, 10, 22, 12, 0, 0),
  ) {}
  now(): number {
    return this.mono;
  }
  wallNow(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

/** Timers for tests, driven by a FakeClock: `advance` fires due timers in order. */
export class FakeScheduler {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  constructor(private readonly clock: FakeClock) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.clock.now() + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== h);
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      // A test may have moved the clock past a timer by hand (a stalled process): time never
      // goes back, the overdue timer just fires now.
      if (t.at > this.clock.now()) this.clock.advance(t.at - this.clock.now());
      t.fn();
    }
    if (end > this.clock.now()) this.clock.advance(end - this.clock.now());
  }
}
