// A tiny `--key value` flag parser for service entry points, strict about unknown flags.

export function parseFlags<T extends Record<string, string>>(argv: string[], defaults: T): T {
  const out: Record<string, string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const key = a.startsWith("--") ? a.slice(2) : "";
    if (!(key in defaults)) {
      console.error(`unknown argument ${JSON.stringify(a)}; known: ${Object.keys(defaults).map((k) => "--" + k).join(" ")}`);
      process.exit(2);
    }
    const v = argv[++i];
    if (v === undefined) {
      console.error(`${a} needs a value`);
      process.exit(2);
    }
    out[key] = v;
  }
  return out as T;
}

/** A `--port` value: an integer 0..65535 (0 = any free port), or exit 2 naming the bad value. */
export function portFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`--port must be a port number between 0 and 65535, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}
