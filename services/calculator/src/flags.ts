// A tiny `--key value` flag parser for the demo entry points, strict about unknown flags.

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
