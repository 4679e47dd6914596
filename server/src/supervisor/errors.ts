// The supervisor's error catalog: stable codes for every refusal, each a Connect error whose
// message names the process and the reason.

import { Code, ConnectError } from "@connectrpc/connect";

export const SupervisorErrors = {
  unknownProcess: (name: string, known: string[]) =>
    new ConnectError(`unknown process ${JSON.stringify(name)}; the config file defines: ${known.join(", ") || "(none)"}`, Code.NotFound),
  alreadyRunning: (name: string, state: string) =>
    new ConnectError(`process ${JSON.stringify(name)} is ${state}; stop it first or use RestartProcess`, Code.FailedPrecondition),
  notRunning: (name: string, state: string) =>
    new ConnectError(`process ${JSON.stringify(name)} is not running (${state})`, Code.FailedPrecondition),
  restartTooSoon: (name: string, waitMs: number) =>
    new ConnectError(
      `manual restarts of ${JSON.stringify(name)} are limited; try again in ${(waitMs / 1000).toFixed(1)} s`,
      Code.ResourceExhausted,
    ),
  shuttingDown: () => new ConnectError("the control server is shutting down", Code.Unavailable),
  nameRequired: () => new ConnectError("name is required", Code.InvalidArgument),
} as const;
