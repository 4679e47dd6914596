// §4.3 rules: loading and strict checking of a rules file, before any event is read.
import { readFileSync } from 'node:fs';

export type Field = 'type' | 'user' | 'value';
export type Op = 'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte' | 'in' | 'prefix';
export type Scalar = string | number;

export interface Condition {
  field: Field;
  op: Op;
  value: Scalar | Scalar[];
}

export interface TagRule {
  when: Condition;
  set: Record<string, string>;
}

export interface Rules {
  drop: Condition[];
  tag: TagRule[];
  windowSeconds: number;
}

export const DEFAULT_RULES: Rules = {
  drop: [{ field: 'type', op: 'eq', value: 'view' }],
  tag: [
    { when: { field: 'value', op: 'gte', value: 100 }, set: { tier: 'high' } },
    { when: { field: 'value', op: 'lt', value: 100 }, set: { tier: 'low' } },
  ],
  windowSeconds: 60,
};

export class RulesError extends Error {}

const FIELDS = ['type', 'user', 'value'];
const OPS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'prefix'];

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkScalar(field: Field, v: unknown, where: string): Scalar {
  if (field === 'value') {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new RulesError(`${where}: field "value" needs an integer, got ${show(v)}`);
    }
    return v;
  }
  if (typeof v !== 'string') throw new RulesError(`${where}: field "${field}" needs a string, got ${show(v)}`);
  return v;
}

function checkCondition(c: unknown, where: string): Condition {
  if (!isObject(c)) throw new RulesError(`${where}: condition must be an object, got ${show(c)}`);
  for (const k of Object.keys(c)) {
    if (k !== 'field' && k !== 'op' && k !== 'value') throw new RulesError(`${where}: unknown key ${show(k)} in condition`);
  }
  const field = c.field;
  if (typeof field !== 'string' || !FIELDS.includes(field)) {
    throw new RulesError(`${where}: unknown field ${show(field)} (expected type, user or value)`);
  }
  const op = c.op;
  if (typeof op !== 'string' || !OPS.includes(op)) {
    throw new RulesError(`${where}: unknown op ${show(op)} (expected eq, ne, lt, lte, gt, gte, in or prefix)`);
  }
  if (!('value' in c)) throw new RulesError(`${where}: condition has no "value"`);
  const f = field as Field;
  if (op === 'in') {
    if (!Array.isArray(c.value)) throw new RulesError(`${where}: op "in" needs an array, got ${show(c.value)}`);
    return { field: f, op, value: c.value.map((x) => checkScalar(f, x, where)) };
  }
  if (op === 'prefix') {
    if (f === 'value') throw new RulesError(`${where}: op "prefix" works on strings only, not on field "value"`);
    if (typeof c.value !== 'string') throw new RulesError(`${where}: op "prefix" needs a string, got ${show(c.value)}`);
    return { field: f, op, value: c.value };
  }
  return { field: f, op: op as Op, value: checkScalar(f, c.value, where) };
}

/** Checks a parsed rules object; throws RulesError naming the rule index and bad value. */
export function checkRules(raw: unknown): Rules {
  if (!isObject(raw)) throw new RulesError(`rules must be a JSON object, got ${show(raw)}`);
  for (const k of Object.keys(raw)) {
    if (k !== 'drop' && k !== 'tag' && k !== 'windowSeconds') {
      throw new RulesError(`unknown key ${show(k)} (expected drop, tag, windowSeconds)`);
    }
  }
  const dropRaw = raw.drop ?? [];
  const tagRaw = raw.tag ?? [];
  if (!Array.isArray(dropRaw)) throw new RulesError(`"drop" must be an array, got ${show(dropRaw)}`);
  if (!Array.isArray(tagRaw)) throw new RulesError(`"tag" must be an array, got ${show(tagRaw)}`);
  const drop = dropRaw.map((c, i) => checkCondition(c, `drop[${i}]`));
  const tag = tagRaw.map((t, i) => {
    const where = `tag[${i}]`;
    if (!isObject(t)) throw new RulesError(`${where}: rule must be an object, got ${show(t)}`);
    for (const k of Object.keys(t)) {
      if (k !== 'when' && k !== 'set') throw new RulesError(`${where}: unknown key ${show(k)}`);
    }
    const when = checkCondition(t.when, where);
    if (!isObject(t.set)) throw new RulesError(`${where}: "set" must be an object of strings, got ${show(t.set)}`);
    const set: Record<string, string> = {};
    for (const [name, v] of Object.entries(t.set)) {
      if (typeof v !== 'string') throw new RulesError(`${where}: tag ${show(name)} needs a string value, got ${show(v)}`);
      set[name] = v;
    }
    return { when, set };
  });
  const ws = raw.windowSeconds ?? 60;
  if (typeof ws !== 'number' || !Number.isSafeInteger(ws) || ws <= 0) {
    throw new RulesError(`"windowSeconds" must be a positive integer, got ${show(ws)}`);
  }
  return { drop, tag, windowSeconds: ws };
}

export function loadRules(path: string | undefined): Rules {
  if (path === undefined) return DEFAULT_RULES;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RulesError(`cannot read rules file ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RulesError(`rules file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return checkRules(raw);
  } catch (e) {
    if (e instanceof RulesError) throw new RulesError(`rules file ${path}: ${e.message}`);
    throw e;
  }
}
