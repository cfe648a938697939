/** A single telemetry value of one tag of one machine, as the edge agent forwards it. */
import * as t from "io-ts";
import { failureAt } from "../decode";
import { UnitId } from "../units";
import { closed, EpochMillis, FiniteNumber, MachineId, oneOf, TagName, withChecks } from "./primitives";

/** OPC UA's three status classes: a bad or uncertain reading is kept and marked, never dropped. */
export const Quality = oneOf("a quality", ["good", "uncertain", "bad"] as const);
export type Quality = t.TypeOf<typeof Quality>;

/**
 * Which clock stamped a reading's `timestamp`: `source` is the PLC's source timestamp (preferred), `server` the
 * OPC UA server's (a fallback when the device gives none), `gateway` the edge agent's receive time (sensors that
 * send no time of their own).
 */
export const Clock = oneOf("a clock", ["source", "server", "gateway"] as const);
export type Clock = t.TypeOf<typeof Clock>;

/**
 * A reading. `value` is in `unit`, the unit the device reported (the cloud converts to canonical units);
 * `value` is `null` only for a reading whose quality is not good (a PLC that reports a bad status with no value).
 */
export const Reading = withChecks(
  closed("a reading", {
    machineId: MachineId,
    tag: TagName,
    timestamp: EpochMillis,
    clock: Clock,
    value: t.union([FiniteNumber, t.null], "a finite number, or null for a reading without value"),
    unit: UnitId,
    quality: Quality,
  }),
  (r, c) => (r.value === null && r.quality === "good" ? [failureAt(c, ["value"], r.value, "a number: a good reading has a value")] : []),
);
export type Reading = t.TypeOf<typeof Reading>;
