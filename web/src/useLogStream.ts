import { useEffect } from "react";
import { LoggerService } from "@modular-runtime/proto/runtime/v1/logger";
import { createLogStream } from "./logStream";
import { useLogStore } from "./logStore";
import { useClient } from "./useClient";

/** Keeps one SubscribeLogs tail open for the current filters while mounted; new filters, new tail. */
export function useLogStream(): void {
  const client = useClient(LoggerService);
  const filters = useLogStore((s) => s.filters);
  useEffect(() => {
    const stream = createLogStream(client, filters, () => useLogStore.getState());
    stream.start();
    return () => stream.stop();
  }, [client, filters]);
}
