// The one Connect transport of the app, created once and provided through React context.

import { createContext, useContext, type ReactNode } from "react";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

const TransportContext = createContext<Transport | null>(null);

/** Carries `?token=` of a shared link as a bearer token on every call. */
function tokenInterceptor(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

export function createAppTransport(baseUrl: string, token?: string | null): Transport {
  return createConnectTransport({
    baseUrl,
    interceptors: token ? [tokenInterceptor(token)] : [],
  });
}

export function TransportProvider({ transport, children }: { transport: Transport; children: ReactNode }) {
  return <TransportContext.Provider value={transport}>{children}</TransportContext.Provider>;
}

export function useTransport(): Transport {
  const t = useContext(TransportContext);
  if (!t) throw new Error("useTransport must be used inside <TransportProvider>");
  return t;
}
