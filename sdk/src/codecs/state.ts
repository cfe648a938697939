/**
 * Machine state and part counts: the inputs of OEE. A state holds until the next event of the same machine;
 * part counts are increments since the previous event (the edge agent turns the PLC's cumulative counters into
 * increments, handling rollover and resets).
 */
import * as t from "io-ts";
import { failureAt } from "../decode";
import {
  closed,
  EpochMillis,
  FactoryId,
  GatewayId,
  integerIn,
  LineId,
  MachineId,
  NonNegativeInteger,
  oneOf,
  withChecks,
} from "./primitives";
import { Clock } from "./reading";

/** What a machine is doing. `plannedStop` (breaks, planned maintenance) does not count against availability. */
export const MachineState = oneOf("a machine state", ["running", "idle", "fault", "plannedStop"] as const);
export type MachineState = t.TypeOf<typeof MachineState>;

/** Integer code of each state, as stored in the SiteWise `state` measurement (metrics accept numbers only). */
export const STATE_CODES: Readonly<Record<MachineState, number>> = {
  idle: 0,
  running: 1,
  fault: 2,
  plannedStop: 3,
};

const STATE_BY_CODE = new Map<number, MachineState>(
  Object.entries(STATE_CODES).map(([state, code]) => [code, state as MachineState]),
);

/** The state a code stands for; `undefined` for a code that is none. */
export function stateOfCode(code: number): MachineState | undefined {
  return STATE_BY_CODE.get(code);
}

/** A change of state and/or the parts made since the machine's previous event. */
export const MachineStateEvent = closed("a machine state event", {
  machineId: MachineId,
  timestamp: EpochMillis,
  clock: Clock,
  state: MachineState,
  goodIncrement: NonNegativeInteger,
  badIncrement: NonNegativeInteger,
});
export type MachineStateEvent = t.TypeOf<typeof MachineStateEvent>;

/**
 * The fixed-shape message a gateway publishes for one machine state event, one message per event on the
 * machine's own state topic. Every field is always present, so a topic rule's IoT SiteWise action can map it
 * field by field to the machine's `state`, `goodParts` and `badParts` properties (aliases taken from the topic,
 * never from the payload); SiteWise wants seconds and nanoseconds, so the time is given in that form.
 */
export const SiteWiseStateMessage = withChecks(
  closed("a machine state message", {
    schemaVersion: t.literal(1, "schema version 1"),
    factoryId: FactoryId,
    gatewayId: GatewayId,
    lineId: LineId,
    machineId: MachineId,
    sequence: NonNegativeInteger,
    stateCode: integerIn(0, 3),
    goodIncrement: NonNegativeInteger,
    badIncrement: NonNegativeInteger,
    timeInSeconds: integerIn(946_684_800, 4_102_444_799),
    offsetInNanos: integerIn(0, 999_999_999),
    clock: Clock,
  }),
  (m, c) =>
    m.offsetInNanos % 1_000_000 === 0
      ? []
      : [failureAt(c, ["offsetInNanos"], m.offsetInNanos, "whole milliseconds (a multiple of 1000000)")],
);
export type SiteWiseStateMessage = t.TypeOf<typeof SiteWiseStateMessage>;

/** Where a state event comes from: the envelope fields of its {@link SiteWiseStateMessage}. */
export interface StateMessageOrigin {
  readonly factoryId: FactoryId;
  readonly gatewayId: GatewayId;
  readonly lineId: LineId;
  readonly sequence: number;
}

/** The fixed-shape message for one event. */
export function toSiteWiseStateMessage(event: MachineStateEvent, origin: StateMessageOrigin): SiteWiseStateMessage {
  return {
    schemaVersion: 1,
    factoryId: origin.factoryId,
    gatewayId: origin.gatewayId,
    lineId: origin.lineId,
    machineId: event.machineId,
    sequence: origin.sequence,
    stateCode: STATE_CODES[event.state],
    goodIncrement: event.goodIncrement,
    badIncrement: event.badIncrement,
    timeInSeconds: Math.floor(event.timestamp / 1000),
    offsetInNanos: (event.timestamp % 1000) * 1_000_000,
    clock: event.clock,
  };
}

/** The event a fixed-shape message carries (the inverse of {@link toSiteWiseStateMessage}). */
export function fromSiteWiseStateMessage(message: SiteWiseStateMessage): MachineStateEvent {
  const state = stateOfCode(message.stateCode);
  // The codec admits only codes 0..3, all of which name a state.
  if (state === undefined) throw new RangeError(`stateCode ${message.stateCode} names no machine state`);
  return {
    machineId: message.machineId,
    timestamp: message.timeInSeconds * 1000 + message.offsetInNanos / 1_000_000,
    clock: message.clock,
    state,
    goodIncrement: message.goodIncrement,
    badIncrement: message.badIncrement,
  };
}
