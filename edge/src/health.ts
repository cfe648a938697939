/**
 * The agent's health, as OT engineers and the cloud see it: buffer depth and the age of the oldest unsent
 * reading, dropped and dead-lettered items, the publish rate, OPC UA sessions, stale machines and each machine's
 * latest value time. Built every interval, logged as one JSON line and published on the gateway's health topic
 * (the health rule turns it into CloudWatch metrics per gateway).
 */
import { HEALTH_SCHEMA_VERSION, type FactoryId, type GatewayId, type HealthMessage, type MachineId } from "@smart-factory/sdk";
import type { StoreStats } from "./contracts";
import type { IntakeCounters } from "./intake";

/** What the health message is made of. */
export interface HealthInputs {
  readonly factoryId: FactoryId;
  readonly gatewayId: GatewayId;
  readonly now: number;
  readonly store: StoreStats;
  readonly intake: IntakeCounters;
  /** Readings acknowledged by IoT Core in total (the publisher's counter). */
  readonly publishedReadings: number;
  /** The previous message's time and published total, for the rate; absent for the first message. */
  readonly previous?: { readonly at: number; readonly publishedReadings: number };
  readonly opcuaSessionsUp: number;
  readonly opcuaSessionsConfigured: number;
  readonly staleMachines: readonly string[];
}

/** The health message of one moment. */
export function healthMessage(input: HealthInputs): HealthMessage {
  const { store, intake } = input;
  const seconds = input.previous === undefined ? 0 : (input.now - input.previous.at) / 1000;
  const rate = input.previous === undefined || seconds <= 0 ? 0 : Math.max(0, input.publishedReadings - input.previous.publishedReadings) / seconds;
  return {
    schemaVersion: HEALTH_SCHEMA_VERSION,
    factoryId: input.factoryId,
    gatewayId: input.gatewayId,
    sentAt: input.now,
    backlogReadings: store.readings,
    backlogBytes: store.bytes,
    backlogAgeSeconds: store.oldestAppendedAt === undefined ? 0 : Math.max(0, Math.floor((input.now - store.oldestAppendedAt) / 1000)),
    droppedReadings: store.droppedTotal + store.rejectedTotal,
    opcuaSessionsUp: input.opcuaSessionsUp,
    opcuaSessionsConfigured: input.opcuaSessionsConfigured,
    deadLetters: store.deadLetters,
    publishedReadingsPerSecond: Math.round(rate * 100) / 100,
    staleMachines: [...input.staleMachines].sort() as MachineId[],
    lastValueAt: Object.fromEntries([...intake.lastValueAt].sort(([a], [b]) => a.localeCompare(b))),
  };
}
