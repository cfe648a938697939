/**
 * The JSON a local sensor publishes on the gateway's MQTT broker, one message per value, on the topic the stack
 * config wires to its machine and tag (`lines[].machines[].sensors`). The topic says which machine and tag it is;
 * the payload carries only the value and what the sensor knows about it.
 */
import * as t from "io-ts";
import { closed, EpochMillis, FiniteNumber } from "./primitives";
import { Quality } from "./reading";
import { UnitId } from "../units";

/** One sensor value. Without `unit` it is in the tag's configured unit; without `timestamp` the gateway stamps it. */
export const SensorMessage = closed(
  "a sensor message",
  { value: t.union([FiniteNumber, t.null], "a finite number, or null for a sensor that reports no value") },
  { unit: UnitId, timestamp: EpochMillis, quality: Quality },
);
export type SensorMessage = t.TypeOf<typeof SensorMessage>;
