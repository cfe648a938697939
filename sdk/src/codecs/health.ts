/**
 * The health message a gateway's edge agent publishes about itself (every minute, and at once when its uplink
 * comes back): how much is waiting in the store-and-forward buffer and how old the oldest reading there is. The
 * health topic rule turns these into CloudWatch metrics per gateway, which alarms watch.
 */
import * as t from "io-ts";
import { closed, EpochMillis, FactoryId, GatewayId, MachineId, NonNegativeInteger, refinedNumber } from "./primitives";

/** Version of the health schema this SDK writes. */
export const HEALTH_SCHEMA_VERSION = 1;

/** A gateway health message (see the module comment). */
export const HealthMessage = closed("a gateway health message", {
  schemaVersion: t.literal(HEALTH_SCHEMA_VERSION, `schema version ${HEALTH_SCHEMA_VERSION}`),
  factoryId: FactoryId,
  gatewayId: GatewayId,
  sentAt: EpochMillis,
  /** Readings buffered on disk, not yet acknowledged by IoT Core. */
  backlogReadings: NonNegativeInteger,
  /** Bytes the buffer holds on disk. */
  backlogBytes: NonNegativeInteger,
  /** Seconds between the oldest buffered reading and `sentAt`; 0 when the buffer is empty. */
  backlogAgeSeconds: NonNegativeInteger,
  /** Readings the agent dropped (buffer full or invalid) since it started: should stay 0. */
  droppedReadings: NonNegativeInteger,
  /** OPC UA sessions up / configured. */
  opcuaSessionsUp: NonNegativeInteger,
  opcuaSessionsConfigured: NonNegativeInteger,
  /** Items the agent refused and keeps locally with the reason (invalid, skewed): should stay 0. */
  deadLetters: NonNegativeInteger,
  /** Readings acknowledged by IoT Core per second since the previous health message. */
  publishedReadingsPerSecond: refinedNumber("a rate of at least 0", (n) => n >= 0),
  /** Machines whose data is stale: keep-alive lost, bad status, or no value for longer than expected. */
  staleMachines: t.array(MachineId, "a list of machine ids"),
  /** Time of the latest value of each machine (epoch ms). */
  lastValueAt: t.record(MachineId, EpochMillis, "a map of machine id to epoch milliseconds"),
});
export type HealthMessage = t.TypeOf<typeof HealthMessage>;

/** The fields of {@link HealthMessage} the health rule publishes as CloudWatch metrics, with their units. */
export const HEALTH_METRICS = {
  backlogReadings: "Count",
  backlogBytes: "Bytes",
  backlogAgeSeconds: "Seconds",
  droppedReadings: "Count",
  opcuaSessionsUp: "Count",
  deadLetters: "Count",
  publishedReadingsPerSecond: "Count/Second",
} as const satisfies Partial<Record<keyof HealthMessage, string>>;
