// A chaos hog: a plain-JS process the control server starts beside a target to compete with it.
//
//   node hog.mjs --cpu N          N worker threads busy-looping          (prints "threads N")
//   node hog.mjs --memory-mb M    M MiB allocated and touched over ~2 s  (prints "held K" per step)
//
// It runs until it is killed, and exits by itself when its parent (the control server) is gone.

import { Worker, isMainThread } from "node:worker_threads";

if (!isMainThread) {
  // Busy loop: a little arithmetic the optimiser cannot remove.
  let x = 0;
  for (;;) x = (x * 1103515245 + 12345) | 0;
}

function fail(message) {
  console.error(`hog: ${message}`);
  process.exit(2);
}

const [flag, raw] = process.argv.slice(2);
const n = Number(raw);
if (!Number.isInteger(n) || n < 1) fail(`usage: hog.mjs --cpu N | --memory-mb M (got ${process.argv.slice(2).join(" ")})`);

// Orphaned (the control server died without killing us): stop competing.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500);

if (flag === "--cpu") {
  const url = new URL(import.meta.url);
  for (let i = 0; i < n; i++) new Worker(url);
  console.log(`threads ${n}`);
} else if (flag === "--memory-mb") {
  const MiB = 1024 * 1024;
  const held = [];
  const steps = Math.min(n, 20);
  let done = 0;
  let step = 0;
  const grow = () => {
    step++;
    const target = Math.round((n * step) / steps);
    while (done < target) {
      const mb = Math.min(64, target - done);
      // allocUnsafe + fill: every page is written, so the memory is really resident.
      held.push(Buffer.allocUnsafe(mb * MiB).fill(0x5a));
      done += mb;
    }
    console.log(`held ${done}`);
    if (step < steps) setTimeout(grow, 2000 / steps);
  };
  grow();
} else {
  fail(`unknown flag ${JSON.stringify(flag)}; use --cpu N or --memory-mb M`);
}
