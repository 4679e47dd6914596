// The security rules of DESIGN.md §5, each against a real listener.

import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const REGISTER = "/runtime.v1.TopologyService/RegisterService";
const GET_TOPOLOGY = "/runtime.v1.TopologyService/GetTopology";

async function call(path: string, headers: Record<string, string> = {}, method = "POST", body: unknown = { name: "svc" }) {
  return fetch(`${server!.httpUrl}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: method === "GET" ? undefined : JSON.stringify(body),
  });
}

/** fetch() does not let us set Host, so DNS-rebinding requests use node:http directly. */
async function withHost(host: string, path: string): Promise<number> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: server!.httpPort, path, method: "POST", headers: { host, "content-type": "application/json" } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}

describe("security", () => {
  it("refuses a foreign Host with 403 before any handler runs (DNS rebinding)", async () => {
    server = await startTestServer();
    expect(await withHost("evil.example:3000", REGISTER)).toBe(403);
    expect(await withHost("evil.example", "/")).toBe(403);
    expect(server.services.registry.nodes()).toHaveLength(0);
    expect(await withHost(`localhost:${server.httpPort}`, GET_TOPOLOGY)).toBe(200);
    expect(await withHost(`127.0.0.1:${server.httpPort}`, GET_TOPOLOGY)).toBe(200);
  });

  it("refuses a foreign Host on the h2c listener too", async () => {
    server = await startTestServer();
    const session = http2.connect(server.h2cUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": GET_TOPOLOGY, ":authority": "evil.example", "content-type": "application/json" });
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.on("error", reject);
      req.end("{}");
    });
    session.close();
    expect(status).toBe(403);
  });

  it("refuses mutating calls from a foreign Origin (CSRF) but serves the dashboard's own", async () => {
    server = await startTestServer();
    const foreign = await call(REGISTER, { origin: "http://evil.example" });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    expect(server.services.registry.nodes()).toHaveLength(0);
    const own = await call(REGISTER, { origin: `http://localhost:${server.httpPort}` });
    expect(own.status).toBe(200);
    expect(server.services.registry.nodes()).toHaveLength(1);
  });

  it("CORS echoes only allowed origins, never *", async () => {
    server = await startTestServer({ allowedOrigins: ["http://localhost:5173"] });
    const ok = await call(GET_TOPOLOGY, { origin: "http://localhost:5173" }, "POST", {});
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    const read = await call(GET_TOPOLOGY, { origin: "http://evil.example" }, "POST", {});
    // A read from a foreign page is answered, but without CORS headers the browser hides it.
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${server.httpUrl}${REGISTER}`, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    for (const r of [ok, read, preflight]) expect(r.headers.get("access-control-allow-origin")).not.toBe("*");
  });

  it("never serves mutating RPCs over GET", async () => {
    server = await startTestServer();
    const msg = encodeURIComponent(JSON.stringify({ name: "via-get" }));
    const res = await fetch(`${server.httpUrl}${REGISTER}?connect=v1&encoding=json&message=${msg}`);
    expect(res.status).toBe(405);
    expect(server.services.registry.nodes()).toHaveLength(0);
  });

  it("with tokens: calls need the control token; the share token may only read", async () => {
    server = await startTestServer({ controlToken: "ctl-secret", shareToken: "watch-only" });
    expect((await call(GET_TOPOLOGY, {}, "POST", {})).status).toBe(401);
    expect((await call(GET_TOPOLOGY, { authorization: "Bearer watch-only" }, "POST", {})).status).toBe(200);
    const shareWrite = await call(REGISTER, { authorization: "Bearer watch-only" });
    expect(shareWrite.status).toBe(401);
    expect(await shareWrite.text()).toMatch(/share token is read-only/);
    expect((await call(REGISTER, { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await call(REGISTER, { authorization: "Bearer ctl-secret" })).status).toBe(200);
    expect(server.services.registry.nodes()).toHaveLength(1);
  });
});
