// The README's `buf curl` commands, run for real against a test server: WatchTopology over
// Connect on the HTTP/1.1 port and over gRPC on the h2c port.

import { spawn } from "node:child_process";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { RegisterServiceRequestSchema } from "@modular-runtime/proto/runtime/v1/topology";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

const root = path.resolve(import.meta.dirname, "../..");
const BUF = path.join(root, "proto/node_modules/.bin/buf");
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  server.services.registry.register(create(RegisterServiceRequestSchema, { name: "seen-by-buf", address: "127.0.0.1:1234" }));
});
afterAll(async () => server.close());

/** Runs buf curl until `done(output)` holds, then stops it. */
function bufCurl(args: string[], done: (out: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUF, ["curl", "--schema", path.join(root, "proto"), ...args], { cwd: root });
    let out = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`buf curl produced no match in time: ${out}`));
    }, 20_000);
    child.stdout.on("data", (d) => {
      out += d;
      if (done(out)) {
        clearTimeout(timer);
        child.kill();
        resolve(out);
      }
    });
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

describe("buf curl", () => {
  it("streams WatchTopology over Connect on the HTTP/1.1 port", async () => {
    const out = await bufCurl(["--protocol", "connect", `${server.httpUrl}/runtime.v1.TopologyService/WatchTopology`], (o) => o.includes("seen-by-buf"));
    expect(out).toContain('"fullSnapshot": true');
    expect(out).toContain('"name": "seen-by-buf"');
  });

  it("streams WatchTopology over gRPC on the h2c port", async () => {
    const out = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", `${server.h2cUrl}/runtime.v1.TopologyService/WatchTopology`], (o) => o.includes("seen-by-buf"));
    expect(out).toContain('"fullSnapshot": true');
  });

  it("calls LookupService with a JSON body", async () => {
    const out = await bufCurl(["--protocol", "connect", "-d", '{"name":"seen-by-buf"}', `${server.httpUrl}/runtime.v1.TopologyService/LookupService`], () => false);
    expect(out).toContain('"address": "127.0.0.1:1234"');
  });
});
