// Builds the HTTP/1.1 Fastify instance (dashboard + Connect/gRPC-Web for browsers) without
// listening, so tests can use it on any port.

import { existsSync } from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import Fastify, { type FastifyInstance } from "fastify";
import { routes } from "./connect.js";
import { checkRequest, corsHeaders, type SecurityPolicy } from "./security.js";
import type { ServiceContainer } from "./services.js";

export interface AppOptions {
  services: ServiceContainer;
  policy: SecurityPolicy;
  /** Built dashboard; when missing, `/` explains how to build it. */
  webDir: string;
  logger?: boolean;
}

/** Largest accepted request message; larger ones fail with RESOURCE_EXHAUSTED. */
export const READ_MAX_BYTES = 4 * 1024 * 1024;

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, forceCloseConnections: true });

  app.addHook("onRequest", async (req, reply) => {
    const url = new URL(req.url, "http://x");
    const origin = typeof req.headers.origin === "string" ? req.headers.origin : undefined;
    const verdict = checkRequest(opts.policy, {
      method: req.method,
      path: url.pathname,
      host: req.headers.host,
      origin,
      authorization: req.headers.authorization,
      queryToken: url.searchParams.get("token") ?? undefined,
    });
    const cors = corsHeaders(opts.policy, origin);
    if (verdict) {
      return reply.code(verdict.status).headers(cors).type("text/plain").send(verdict.message + "\n");
    }
    reply.headers(cors);
    if (req.method === "OPTIONS") return reply.code(204).send();
  });

  await app.register(fastifyConnectPlugin, {
    routes: routes(opts.services),
    readMaxBytes: READ_MAX_BYTES,
    shutdownTimeoutMs: 1000,
  });

  const index = path.join(opts.webDir, "index.html");
  if (existsSync(index)) {
    await app.register(fastifyStatic, { root: opts.webDir, wildcard: false, index: "index.html" });
    // Client-side routes (e.g. /services?node=x) load the dashboard too.
    app.setNotFoundHandler((req, reply) => {
      if (req.method === "GET" && (req.headers.accept ?? "").includes("text/html")) {
        return reply.type("text/html").sendFile("index.html");
      }
      return reply.code(404).type("text/plain").send(`not found: ${req.url}\n`);
    });
  } else {
    app.get("/", async (_req, reply) =>
      reply
        .type("text/plain")
        .send(`The dashboard is not built (${index} is missing). Run \`npm start\`, which builds it.\n`),
    );
  }
  return app;
}
