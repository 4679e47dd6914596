// The live state of the benchmark this browser started: a pure reducer over progress messages,
// and the live chart's rows. Time `t` is seconds since Start as this browser saw it.

import { ENDED_PHASES, type CompletedView, type PhaseName, type ProgressView, type RunView } from "./benchAdapters";

export interface LivePoint {
  t: number;
  mode: string;
  eventsPerSecond: number;
  /** Process runs finished when this point came: a new value means a new run. */
  step: number;
}

/** One progress tick of a measured run, zero rates included: the chaos timeline draws a stalled
 *  split (a killed stage) as the dip it is, where the benchmark's chart leaves such ticks out. */
export interface LiveTick {
  t: number;
  mode: string;
  eventsPerSecond: number;
  eventsDone: number;
  step: number;
}

/** The newest progress message's figures, with what the view gathers over the stream. */
export interface LiveState extends Omit<ProgressView, "completed" | "run"> {
  /** Seconds since Start of the newest message. */
  elapsed: number;
  points: LivePoint[];
  ticks: LiveTick[];
  /** Newest last. */
  completed: CompletedView[];
  /** The run as it ended (DONE, FAILED, CANCELLED). */
  final: RunView | null;
}

/** Points kept for the live chart (at most four a second: over ten minutes). */
export const MAX_LIVE_POINTS = 2400;

const RUN_PHASES: readonly PhaseName[] = ["warmup", "measuring", "scaling"];

export function startLive(): LiveState {
  return {
    runId: "",
    phase: "starting",
    mode: "",
    events: 0,
    runIndex: 0,
    runCount: 0,
    stepsDone: 0,
    stepsTotal: 0,
    eventsDone: 0,
    eventsPerSecond: 0,
    runSeconds: 0,
    message: "",
    elapsed: 0,
    points: [],
    ticks: [],
    completed: [],
    final: null,
  };
}

export function isEnded(s: LiveState): boolean {
  return ENDED_PHASES.includes(s.phase);
}

export function reduceLive(s: LiveState, p: ProgressView, t: number): LiveState {
  // Once ended, nothing moves it again (a late message cannot revive a finished run).
  if (isEnded(s)) return s;
  // A finished process run: counted and listed; the current-run figures wait for the next tick.
  if (p.completed) {
    return {
      ...s,
      runId: p.runId || s.runId,
      stepsDone: Math.max(s.stepsDone, p.stepsDone),
      stepsTotal: p.stepsTotal || s.stepsTotal,
      elapsed: t,
      completed: [...s.completed, p.completed],
    };
  }
  const next: LiveState = {
    ...s,
    runId: p.runId || s.runId,
    phase: p.phase === "starting" ? s.phase : p.phase,
    mode: p.mode,
    events: p.events || s.events,
    runIndex: p.runIndex,
    runCount: p.runCount,
    stepsDone: Math.max(s.stepsDone, p.stepsDone),
    stepsTotal: p.stepsTotal || s.stepsTotal,
    eventsDone: p.eventsDone,
    eventsPerSecond: p.eventsPerSecond,
    runSeconds: p.runSeconds,
    message: p.message || (p.phase === s.phase ? s.message : ""),
    elapsed: t,
    final: p.run ?? s.final,
  };
  if (p.mode !== "" && RUN_PHASES.includes(p.phase)) {
    const ticks = [...s.ticks, { t, mode: p.mode, eventsPerSecond: p.eventsPerSecond, eventsDone: p.eventsDone, step: next.stepsDone }];
    next.ticks = ticks.length > MAX_LIVE_POINTS ? ticks.slice(ticks.length - MAX_LIVE_POINTS) : ticks;
  }
  if (p.mode !== "" && RUN_PHASES.includes(p.phase) && p.eventsPerSecond > 0) {
    // A rate of 0 means "no figure" (a run's first tick, or a reader that does not move its
    // file offset, such as DuckDB's), not a stall, so it is left out rather than drawn as a dip.
    const points = [...s.points, { t, mode: p.mode, eventsPerSecond: p.eventsPerSecond, step: next.stepsDone }];
    next.points = points.length > MAX_LIVE_POINTS ? points.slice(points.length - MAX_LIVE_POINTS) : points;
  }
  return next;
}

/** A message that ended the stream without a final progress message (e.g. a server error). */
export function failLive(s: LiveState, message: string, phase: "failed" | "cancelled" = "failed"): LiveState {
  return isEnded(s) ? s : { ...s, phase, mode: "", message };
}

export type LiveRow = { t: number } & Record<string, number>;

/** One row per point with the mode's rate under the mode's name; a row with no rate between two
 *  runs, so a mode's line breaks where another run came in between or a new run started. */
export function liveChartRows(points: readonly LivePoint[]): { rows: LiveRow[]; modes: string[] } {
  const rows: LiveRow[] = [];
  const modes: string[] = [];
  let prev: LivePoint | undefined;
  for (const p of points) {
    if (!modes.includes(p.mode)) modes.push(p.mode);
    if (prev && (prev.step !== p.step || prev.mode !== p.mode)) rows.push({ t: (prev.t + p.t) / 2 } as LiveRow);
    rows.push({ t: p.t, [p.mode]: p.eventsPerSecond } as LiveRow);
    prev = p;
  }
  return { rows, modes };
}
