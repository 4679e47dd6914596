export {
  TopologyReporter,
  HealthState,
  ServiceLanguage,
  ServiceType,
  controlEnv,
  exitWithParent,
  type ReporterOptions,
} from "./topology-reporter.js";
