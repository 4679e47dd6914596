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
