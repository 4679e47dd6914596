export {
  TopologyReporter,
  HealthState,
  ServiceLanguage,
  ServiceType,
  controlEnv,
  exitWithParent,
  type ReporterOptions,
} from "./topology-reporter.js";
export { createLogger, newCorrelationId, type Logger, type LoggerOptions, type LogFields, type LogLevelName } from "./logger.js";
export { AsyncQueue, CreditWindow, lookupAddress, processFigures, unixNanos } from "./stage.js";
export { parseFlags, portFlag } from "./flags.js";
export { serveService, type ServeOptions } from "./serve.js";
export { crashPointFromEnv, maybeCrash, pruneSnapshots, writeFileAtomic, type CrashPoint, type CrashPointName } from "./checkpoint.js";
