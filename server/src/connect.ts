// Every Connect service the control server offers, one line each. Used by both listeners
// (HTTP/1.1 for browsers on :3000, h2c for services on :3001).

import type { ConnectRouter } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { BenchmarkService } from "@modular-runtime/proto/runtime/v1/benchmark";
import { LoadGeneratorService } from "@modular-runtime/proto/runtime/v1/load";
import { LoggerService } from "@modular-runtime/proto/runtime/v1/logger";
import { SupervisorService } from "@modular-runtime/proto/runtime/v1/supervisor";
import { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { ChaosService } from "@modular-runtime/proto/runtime/v1/chaos";
import type { ServiceContainer } from "./services.js";

export const allServices: DescService[] = [TopologyService, SupervisorService, LoggerService, LoadGeneratorService, BenchmarkService, ChaosService];

export function routes(services: ServiceContainer) {
  return (router: ConnectRouter) => {
    router.service(TopologyService, services.topology);
    router.service(SupervisorService, services.supervisorService);
    router.service(LoggerService, services.logger);
    router.service(LoadGeneratorService, services.load);
    router.service(BenchmarkService, services.benchmark);
    router.service(ChaosService, services.chaos);
  };
}
