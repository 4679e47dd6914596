// Compiles a LogFilter once into a predicate used for queries and for every live subscriber.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Level, StoredEntry } from "./log-entry.js";

export interface EntryFilter {
  services?: string[];
  minLevel?: number;
  sinceMs?: number;
  untilMs?: number;
  text?: string;
  regex?: string;
  correlationId?: string;
}

export type EntryPredicate = (e: StoredEntry) => boolean;

export const MAX_REGEX_LENGTH = 500;

/** INVALID_ARGUMENT naming the regex when it does not compile or is too long. */
export function compileFilter(f: EntryFilter): EntryPredicate {
  const services = f.services && f.services.length > 0 ? new Set(f.services) : undefined;
  const minLevel = f.minLevel && f.minLevel > 0 ? (f.minLevel as Level) : undefined;
  const since = f.sinceMs && f.sinceMs > 0 ? f.sinceMs : undefined;
  const until = f.untilMs && f.untilMs > 0 ? f.untilMs : undefined;
  const text = f.text ? f.text.toLowerCase() : undefined;
  const corr = f.correlationId || undefined;
  let re: RegExp | undefined;
  if (f.regex) {
    if (f.regex.length > MAX_REGEX_LENGTH) {
      throw new ConnectError(`regex is too long: ${f.regex.length} > ${MAX_REGEX_LENGTH} characters`, Code.InvalidArgument);
    }
    try {
      re = new RegExp(f.regex);
    } catch (err) {
      throw new ConnectError(`invalid regex ${JSON.stringify(f.regex)}: ${(err as Error).message}`, Code.InvalidArgument);
    }
  }
  return (e) =>
    (services === undefined || services.has(e.service)) &&
    (minLevel === undefined || e.level >= minLevel) &&
    (since === undefined || e.ts >= since) &&
    (until === undefined || e.ts <= until) &&
    (corr === undefined || e.corr === corr) &&
    (text === undefined || e.msg.toLowerCase().includes(text)) &&
    (re === undefined || re.test(e.msg));
}
