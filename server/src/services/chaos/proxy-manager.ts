// Keeps one fault proxy per live instance of a `faultProxy: true` process: started when the
// instance registers (with its process name and an address), closed when it unregisters or
// dies. LookupService then answers with the proxy's address; the topology graph keeps the
// address the instance registered.

import { ConnectionState, type ServiceNode } from "@modular-runtime/proto/runtime/v1/topology";
import type { TopologyRegistry } from "../topology/registry.js";
import { FaultProxy, type NetFault } from "./fault-proxy.js";

export interface ProxyManagerDeps {
  registry: TopologyRegistry;
  /** Whether a process (by config name) gets fault proxies. */
  proxied(processName: string): boolean;
  /** The network faults active on a process. */
  faults(processName: string): readonly NetFault[];
  onEvent?(processName: string, text: string, level: "info" | "warn" | "error"): void;
  random?: () => number;
}

interface Entry {
  target: string;
  processName: string;
  proxy?: FaultProxy;
  starting: Promise<void>;
  closed: boolean;
}

export class ProxyManager {
  private readonly entries = new Map<string, Entry>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly deps: ProxyManagerDeps) {
    this.unsubscribe = deps.registry.subscribe((changes) => {
      for (const c of changes) if (c.kind === "node") this.reconcile(c.id);
    });
    deps.registry.setLookupAddress((node) => this.entries.get(node.instanceId)?.proxy?.address);
  }

  /** The proxy address for an instance, once its proxy listens. */
  addressFor(instanceId: string): string | undefined {
    return this.entries.get(instanceId)?.proxy?.address;
  }

  /** Resolves once every proxy being started listens (or failed), so lookups never miss one. */
  async ready(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.starting));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => this.stop(e)));
  }

  private reconcile(instanceId: string): void {
    const node = this.deps.registry.getNode(instanceId);
    const entry = this.entries.get(instanceId);
    const wanted = !this.closed && node !== undefined && this.wants(node);
    if (wanted && !entry) this.start(node);
    else if (!wanted && entry) {
      this.entries.delete(instanceId);
      void this.stop(entry);
    }
  }

  private wants(node: ServiceNode): boolean {
    return node.state !== ConnectionState.DEAD && node.address !== "" && node.processName !== "" && this.deps.proxied(node.processName);
  }

  private start(node: ServiceNode): void {
    const processName = node.processName;
    const entry: Entry = { target: node.address, processName, closed: false, starting: Promise.resolve() };
    entry.starting = FaultProxy.start({
      target: node.address,
      label: processName,
      faults: () => this.deps.faults(processName),
      random: this.deps.random,
    }).then(
      async (proxy) => {
        if (entry.closed) {
          await proxy.close();
          return;
        }
        entry.proxy = proxy;
        this.deps.onEvent?.(processName, `chaos: fault proxy for ${processName} on ${proxy.address} → ${node.address}`, "info");
      },
      (err: Error) => {
        this.deps.onEvent?.(processName, `chaos: cannot start the fault proxy for ${processName}: ${err.message}`, "error");
      },
    );
    this.entries.set(node.instanceId, entry);
  }

  private async stop(entry: Entry): Promise<void> {
    entry.closed = true;
    await entry.starting;
    await entry.proxy?.close();
  }
}
