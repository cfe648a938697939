/** The factory summary the stack exports before any cloud resource exists. */
import { type FactoryConfig, listMachines, thingName } from "@smart-factory/sdk";

/** What `pulumi stack output factory` shows: ids and counts of the validated inventory. */
export interface FactorySummary {
  readonly factoryId: string;
  readonly name: string;
  readonly region: string;
  readonly timeZone: string;
  readonly oeeWindow: string;
  readonly counts: {
    readonly lines: number;
    readonly machines: number;
    readonly machineTypes: number;
    readonly gateways: number;
    readonly tags: number;
  };
  readonly lines: readonly { readonly id: string; readonly machines: number; readonly gateway: string }[];
  readonly gateways: readonly { readonly id: string; readonly thingName: string; readonly lines: readonly string[] }[];
  readonly features: { readonly vpc: boolean; readonly quickSight: boolean; readonly predictiveMaintenance: boolean };
}

/** Summarize a validated config. `tags` counts the telemetry tags wired over all machines. */
export function summarizeFactory(config: FactoryConfig): FactorySummary {
  const placements = listMachines(config);
  const gatewayOf = new Map(placements.map((p) => [p.line.id as string, p.gateway.id as string]));
  return {
    factoryId: config.factory.id,
    name: config.factory.name,
    region: config.region,
    timeZone: config.factory.timeZone,
    oeeWindow: config.oee.window,
    counts: {
      lines: config.lines.length,
      machines: placements.length,
      machineTypes: config.machineTypes.length,
      gateways: config.gateways.length,
      tags: placements.reduce((sum, p) => sum + p.type.tags.length, 0),
    },
    lines: config.lines.map((line) => ({ id: line.id, machines: line.machines.length, gateway: gatewayOf.get(line.id) ?? "" })),
    gateways: config.gateways.map((g) => ({ id: g.id, thingName: thingName(config.factory.id, g.id), lines: [...g.lines] })),
    features: {
      vpc: config.features.vpc.enabled,
      quickSight: config.features.quickSight.enabled,
      predictiveMaintenance: config.features.predictiveMaintenance.enabled,
    },
  };
}
