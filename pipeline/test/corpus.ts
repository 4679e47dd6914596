// The shared test corpus: rules files and generated inputs on which every engine (monolith,
// split) must agree byte for byte with the DuckDB oracle.
import type { Distribution } from '../src/generate/generator.js';

export const TYPES = ['click', 'view', 'purchase', 'signup', 'search', 'add_to_cart', 'logout'];

export const RULES: Record<string, unknown> = {
  default: undefined,
  inPrefixOverride300: {
    drop: [
      { field: 'type', op: 'in', value: ['view', 'logout'] },
      { field: 'user', op: 'prefix', value: 'u00009' },
    ],
    tag: [
      { when: { field: 'value', op: 'gte', value: 0 }, set: { tier: 'nonneg', sign: 'plus' } },
      { when: { field: 'value', op: 'gt', value: 1000 }, set: { tier: 'big' } },
      { when: { field: 'type', op: 'eq', value: 'purchase' }, set: { kind: 'money' } },
      { when: { field: 'value', op: 'lt', value: 0 }, set: { sign: 'minus' } },
    ],
    windowSeconds: 300,
  },
  stringsAndHours: {
    drop: [{ field: 'value', op: 'lt', value: -500 }, { field: 'user', op: 'eq', value: 'u000001' }],
    tag: [
      { when: { field: 'type', op: 'in', value: ['click', 'search', 'vue_é'] }, set: { grp: 'a' } },
      { when: { field: 'type', op: 'ne', value: 'click' }, set: { grp: 'b' } },
      { when: { field: 'user', op: 'lte', value: 'u000500' }, set: { half: 'first' } },
      { when: { field: 'user', op: 'gt', value: 'u000500' }, set: { half: 'second' } },
      { when: { field: 'value', op: 'in', value: [0, 7, 2147483647, -2147483648] }, set: { odd: 'yes' } },
      { when: { field: 'value', op: 'lte', value: 10 }, set: { small: 'x"y\\z' } },
    ],
    windowSeconds: 3600,
  },
  nothing: { drop: [], tag: [], windowSeconds: 1 },
  daily: { drop: [{ field: 'type', op: 'gte', value: 'u' }], tag: [{ when: { field: 'user', op: 'prefix', value: 'u' }, set: { u: 'yes' } }], windowSeconds: 86400 },
};

export interface Case { events: number; seed: number; distribution: Distribution; ratio: number; rules: string; users?: number }

export const CASES: Case[] = [
  { events: 0, seed: 1, distribution: 'uniform', ratio: 0, rules: 'default' },
  { events: 1, seed: 2, distribution: 'uniform', ratio: 0, rules: 'default' },
  { events: 1, seed: 3, distribution: 'zipf', ratio: 1, rules: 'inPrefixOverride300' },
  ...[0, 0.05, 0.3].flatMap((ratio, i) =>
    (['uniform', 'zipf', 'burst'] as const).map((distribution, j) => ({
      events: 1000, seed: 10 + i * 3 + j, distribution, ratio, rules: Object.keys(RULES)[(i * 3 + j) % 5], users: 1000,
    })),
  ),
  { events: 1000, seed: 77, distribution: 'burst', ratio: 1, rules: 'stringsAndHours', users: 50 },
  { events: 100_000, seed: 5, distribution: 'uniform', ratio: 0.02, rules: 'default' },
  { events: 100_000, seed: 6, distribution: 'zipf', ratio: 0.1, rules: 'inPrefixOverride300', users: 2000 },
  { events: 100_000, seed: 7, distribution: 'burst', ratio: 0, rules: 'stringsAndHours' },
  // one-second windows: more than 100k windows, so the oracle renders byWindow in several chunks
  { events: 120_000, seed: 8, distribution: 'uniform', ratio: 0.01, rules: 'nothing' },
];
