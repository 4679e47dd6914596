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
