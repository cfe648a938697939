/** Questions about a factory's inventory that every package asks of its stack config. */
import type { FactoryConfig, Gateway, Line, Machine, MachineType } from "./codecs/config";
import type { GatewayId } from "./codecs/primitives";

/** A machine with the line it stands in, its type and the gateway that serves its line. */
export interface MachinePlacement {
  readonly machine: Machine;
  readonly line: Line;
  readonly type: MachineType;
  readonly gateway: Gateway;
}

/**
 * Every machine of the factory with its line, type and gateway, in config order. The config codec guarantees
 * that each reference resolves; this throws only for a config that did not pass it.
 */
export function listMachines(config: FactoryConfig): MachinePlacement[] {
  const types = new Map(config.machineTypes.map((t) => [t.id as string, t]));
  const gatewayOfLine = new Map<string, Gateway>();
  for (const gateway of config.gateways) for (const lineId of gateway.lines) gatewayOfLine.set(lineId, gateway);
  return config.lines.flatMap((line) =>
    line.machines.map((machine) => {
      const type = types.get(machine.type);
      const gateway = gatewayOfLine.get(line.id);
      if (type === undefined || gateway === undefined) {
        throw new Error(`config was not decoded with FactoryConfig: machine ${machine.id} has no type or gateway`);
      }
      return { machine, line, type, gateway };
    }),
  );
}

/** The machines a gateway serves (those of its lines). */
export function machinesOfGateway(config: FactoryConfig, gatewayId: GatewayId): MachinePlacement[] {
  return listMachines(config).filter((p) => p.gateway.id === gatewayId);
}
