/**
 * The checks a reading must pass against the factory's inventory, shared by the edge agent (before it buffers a
 * reading) and the enrichment Lambda (before it writes one): the machine exists and stands behind the gateway
 * that sent it, the tag is one of its type's, the unit measures the tag's quantity, the value lies in the tag's
 * configured range (compared in the tag's configured unit), and the timestamp is inside the retention and skew
 * bounds. A refusal names the field, the value and why.
 */
import type { FactoryConfig, TagSpec } from "./codecs/config";
import type { UnitId } from "./units";
import type { Reading } from "./codecs/reading";
import { listMachines, type MachinePlacement } from "./inventory";
import { checkTimestamp, readingBounds, type TimestampBounds } from "./timestamps";
import { canonicalUnitOf, converter, quantityOf } from "./units";

/** Why a reading was refused. */
export type ReadingRefusalReason = "unknownMachine" | "machineNotOnGateway" | "unknownTag" | "unitMismatch" | "outOfRange" | "timestampTooOld" | "timestampInFuture";

/** A refused reading: the field, its value and a message for people. */
export interface ReadingRefusal {
  readonly ok: false;
  readonly reason: ReadingRefusalReason;
  readonly field: "machineId" | "tag" | "unit" | "value" | "timestamp";
  readonly value: string | number | null;
  readonly message: string;
}

/** An accepted reading, with where its machine stands and its value in the canonical unit. */
export interface ReadingAcceptance {
  readonly ok: true;
  readonly placement: MachinePlacement;
  /** The value in the tag's canonical SI unit; `null` for a reading without value. */
  readonly canonical: number | null;
}

interface TagInfo {
  readonly spec: TagSpec;
  readonly quantity: string;
}

interface MachineInfo {
  readonly placement: MachinePlacement;
  readonly tags: ReadonlyMap<string, TagInfo>;
}

/**
 * Checks readings against one factory's inventory. Build it once (it indexes the inventory and caches unit
 * converters) and call {@link ReadingValidator.check} per reading.
 */
export class ReadingValidator {
  readonly factoryId: string;
  private readonly machines = new Map<string, MachineInfo>();
  private readonly bounds: TimestampBounds;
  private readonly converters = new Map<string, (value: number) => number>();

  constructor(config: FactoryConfig) {
    this.factoryId = config.factory.id;
    this.bounds = readingBounds(config.telemetry);
    for (const placement of listMachines(config)) {
      const tags = new Map(placement.type.tags.map((spec) => [spec.name as string, { spec, quantity: quantityOf(spec.unit) }]));
      this.machines.set(placement.machine.id, { placement, tags });
    }
  }

  /** The machine's placement, or `undefined` for a machine the factory does not have. */
  placementOf(machineId: string): MachinePlacement | undefined {
    return this.machines.get(machineId)?.placement;
  }

  /** Check `reading` from `gatewayId` at `now` (epoch ms). */
  check(reading: Reading, gatewayId: string, now: number): ReadingAcceptance | ReadingRefusal {
    const refuse = (reason: ReadingRefusalReason, field: ReadingRefusal["field"], value: string | number | null, message: string): ReadingRefusal => ({ ok: false, reason, field, value, message });
    const machine = this.machines.get(reading.machineId);
    if (machine === undefined) return refuse("unknownMachine", "machineId", reading.machineId, `machineId ${JSON.stringify(reading.machineId)} is not a machine of factory ${this.factoryId}`);
    const { placement } = machine;
    if (placement.gateway.id !== gatewayId) {
      return refuse(
        "machineNotOnGateway",
        "machineId",
        reading.machineId,
        `machineId ${JSON.stringify(reading.machineId)} stands on line ${placement.line.id}, served by gateway ${placement.gateway.id}, not by ${gatewayId}`,
      );
    }
    const tag = machine.tags.get(reading.tag);
    if (tag === undefined) {
      return refuse("unknownTag", "tag", reading.tag, `tag ${JSON.stringify(reading.tag)} is not a tag of machine type ${placement.type.id} (${[...machine.tags.keys()].join(", ")})`);
    }
    const quantity = quantityOf(reading.unit);
    if (quantity !== tag.quantity) {
      return refuse("unitMismatch", "unit", reading.unit, `unit ${JSON.stringify(reading.unit)} measures ${quantity}, but tag ${reading.tag} is a ${tag.quantity} (configured in ${tag.spec.unit})`);
    }
    if (reading.value !== null) {
      const problem = this.rangeProblem(reading.value, reading.unit, tag.spec);
      if (problem !== undefined) return refuse("outOfRange", "value", reading.value, problem);
    }
    const verdict = checkTimestamp(reading.timestamp, now, this.bounds);
    if (!verdict.ok) return refuse(verdict.reason === "future" ? "timestampInFuture" : "timestampTooOld", "timestamp", reading.timestamp, verdict.message);
    return { ok: true, placement, canonical: reading.value === null ? null : this.convert(reading.unit, canonicalUnitOf(reading.unit))(reading.value) };
  }

  /** Why `value` (in `unit`) is outside the tag's valid range, compared in the tag's configured unit. */
  private rangeProblem(value: number, unit: UnitId, spec: TagSpec): string | undefined {
    const inTagUnit = unit === spec.unit ? value : this.convert(unit, spec.unit)(value);
    // A value converted from another unit may carry the conversion's rounding: allow a few ulps at the bounds.
    const slack = unit === spec.unit ? 0 : 4 * Number.EPSILON * Math.max(Math.abs(spec.min), Math.abs(spec.max), Math.abs(inTagUnit));
    if (inTagUnit >= spec.min - slack && inTagUnit <= spec.max + slack) return undefined;
    const shown = unit === spec.unit ? `${value} ${unit}` : `${value} ${unit} (${inTagUnit} ${spec.unit})`;
    return `value ${shown} is outside the valid range of ${spec.name}, ${spec.min} to ${spec.max} ${spec.unit} (compared in ${spec.unit}, the tag's configured unit)`;
  }

  private convert(from: UnitId, to: UnitId): (value: number) => number {
    const key = `${from}\u0000${to}`;
    let fn = this.converters.get(key);
    if (fn === undefined) this.converters.set(key, (fn = converter(from, to)));
    return fn;
  }
}
