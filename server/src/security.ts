// Request checks that run before any handler: Host allow-list (DNS rebinding), Origin checks for
// mutating calls (CSRF), CORS that echoes only allowed origins, and access tokens beyond loopback.

import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { DescService } from "@bufbuild/protobuf";

export interface SecurityPolicy {
  allowedHosts: ReadonlySet<string>;
  allowedOrigins: Set<string>;
  controlToken: string;
  shareToken: string;
  /** Connect paths ("/pkg.Service/Method") of methods without side effects. */
  readOnlyPaths: ReadonlySet<string>;
  /** Every Connect path, read-only or not. */
  rpcPaths: ReadonlySet<string>;
}

export function buildPolicy(opts: {
  allowedHosts: string[];
  allowedOrigins: string[];
  controlToken: string;
  shareToken: string;
  services: DescService[];
}): SecurityPolicy {
  const hosts = new Set(["localhost", "127.0.0.1", "[::1]", ...opts.allowedHosts.map((h) => h.toLowerCase())]);
  const origins = new Set<string>(opts.allowedOrigins);
  const readOnly = new Set<string>();
  const all = new Set<string>();
  for (const s of opts.services) {
    for (const m of s.methods) {
      const p = `/${s.typeName}/${m.name}`;
      all.add(p);
      if (m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS) readOnly.add(p);
    }
  }
  return {
    allowedHosts: hosts,
    allowedOrigins: origins,
    controlToken: opts.controlToken,
    shareToken: opts.shareToken,
    readOnlyPaths: readOnly,
    rpcPaths: all,
  };
}

/** Allows the dashboard's own origins once the HTTP port is known (it may be ephemeral). */
export function allowDashboardPort(policy: SecurityPolicy, port: number): void {
  for (const h of policy.allowedHosts) {
    policy.allowedOrigins.add(`http://${h}:${port}`);
    if (port === 80) policy.allowedOrigins.add(`http://${h}`);
  }
}

/** The host name of a Host header, lower-cased, without the port. */
export function hostName(hostHeader: string | undefined): string {
  if (!hostHeader) return "";
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(":");
  return colon < 0 ? h : h.slice(0, colon);
}

export interface Verdict {
  status: number;
  message: string;
}

export interface RequestFacts {
  method: string;
  path: string;
  host: string | undefined;
  origin: string | undefined;
  authorization: string | undefined;
  /** `?token=` from the URL, for shared read-only links. */
  queryToken: string | undefined;
}

/** Returns undefined when the request may proceed, or the refusal to send. */
export function checkRequest(policy: SecurityPolicy, req: RequestFacts): Verdict | undefined {
  const host = hostName(req.host);
  if (!policy.allowedHosts.has(host)) {
    return { status: 403, message: `host ${JSON.stringify(req.host ?? "")} is not allowed` };
  }
  const isRpc = policy.rpcPaths.has(req.path);
  const mutating = isRpc && !policy.readOnlyPaths.has(req.path);
  if (mutating && req.method === "GET") {
    return { status: 405, message: `${req.path} changes state and is not served over GET` };
  }
  if (req.origin !== undefined && mutating && !policy.allowedOrigins.has(req.origin)) {
    return { status: 403, message: `origin ${JSON.stringify(req.origin)} may not call ${req.path}` };
  }
  if (policy.controlToken !== "" && isRpc) {
    const bearer = req.authorization?.startsWith("Bearer ") ? req.authorization.slice(7) : undefined;
    const token = bearer ?? req.queryToken;
    const isControl = token === policy.controlToken;
    const isShare = policy.shareToken !== "" && token === policy.shareToken;
    if (!isControl && !(isShare && !mutating)) {
      return {
        status: 401,
        message: isShare ? `the share token is read-only: ${req.path} needs the control token` : "a valid access token is required",
      };
    }
  }
  return undefined;
}

/** CORS headers for a request: only an allowed Origin is echoed, never `*`. */
export function corsHeaders(policy: SecurityPolicy, origin: string | undefined): Record<string, string> {
  if (!origin || !policy.allowedOrigins.has(origin)) return {};
  return {
    "access-control-allow-origin": origin,
    vary: "Origin",
    "access-control-allow-methods": "GET, POST",
    "access-control-allow-headers":
      "content-type, connect-protocol-version, connect-timeout-ms, x-grpc-web, x-user-agent, grpc-timeout, authorization",
    "access-control-expose-headers": "grpc-status, grpc-message, grpc-status-details-bin",
    "access-control-max-age": "600",
  };
}
