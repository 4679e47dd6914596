// Minimal strict option parser: `--name value` or `--name=value`; unknown options and missing or
// malformed values are errors that name the option and the value.

export class UsageError extends Error {}

export type OptSpec = Record<string, 'string' | 'flag'>;

export function parseOptions(argv: string[], spec: OptSpec, command: string): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(arg)}`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`${command}: unknown option --${name} (see --help)`);
    if (kind === 'flag') {
      if (value !== undefined) throw new UsageError(`${command}: option --${name} takes no value`);
      out.set(name, 'true');
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`${command}: option --${name} needs a value`);
      value = argv[++i];
    }
    if (out.has(name)) throw new UsageError(`${command}: option --${name} given twice`);
    out.set(name, value);
  }
  return out;
}

export function required(opts: Map<string, string>, name: string, command: string): string {
  const v = opts.get(name);
  if (v === undefined || v === '') throw new UsageError(`${command}: missing required option --${name}`);
  return v;
}

export function intOption(
  opts: Map<string, string>,
  name: string,
  command: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER, fallback }: { min?: number; max?: number; fallback?: number } = {},
): number | undefined {
  const v = opts.get(name);
  if (v === undefined) return fallback;
  const clean = v.replace(/_/g, '');
  if (!/^-?\d+$/.test(clean)) throw new UsageError(`${command}: --${name} must be an integer, got ${JSON.stringify(v)}`);
  const n = Number(clean);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${command}: --${name} must be between ${min} and ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

export function intList(v: string, name: string, command: string, min = 0): number[] {
  return v.split(',').map((s) => {
    const clean = s.trim().replace(/_/g, '');
    const m = /^(\d+)([kKmM]?)$/.exec(clean);
    if (!m) throw new UsageError(`${command}: --${name} must be a comma-separated list of integers, got ${JSON.stringify(s)}`);
    const n = Number(m[1]) * (m[2] === '' ? 1 : m[2].toLowerCase() === 'k' ? 1000 : 1_000_000);
    if (n < min) throw new UsageError(`${command}: --${name} values must be at least ${min}, got ${JSON.stringify(s)}`);
    return n;
  });
}
