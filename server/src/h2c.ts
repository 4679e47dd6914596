// The h2c (HTTP/2 without TLS) listener for services: gRPC, gRPC-Web and Connect, including
// client and bidi streams (heartbeats) that browsers cannot use.

import http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { routes } from "./connect.js";
import { READ_MAX_BYTES } from "./app.js";
import { hostName, type SecurityPolicy } from "./security.js";
import type { ServiceContainer } from "./services.js";

export function createH2cServer(services: ServiceContainer, policy: SecurityPolicy, shutdown: AbortSignal): http2.Http2Server {
  const handler = connectNodeAdapter({
    routes: routes(services),
    readMaxBytes: READ_MAX_BYTES,
    shutdownSignal: shutdown,
  });
  const server = http2.createServer((req, res) => {
    const authority = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
    if (!policy.allowedHosts.has(hostName(authority))) {
      res.writeHead(403, { "content-type": "text/plain" });
      res.end(`host ${JSON.stringify(authority ?? "")} is not allowed\n`);
      return;
    }
    handler(req, res);
  });
  return server;
}
