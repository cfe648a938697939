/** Realistic telemetry for tests and benchmarks: a gateway's machines sampled once a second, seeded. */
import { agentClientId, encodeTelemetryBatch, telemetryTopic, type MachineId, type Reading, type TagName, type TelemetryBatch, type UnitId } from "@smart-factory/sdk";

/** The first second of the tests' telemetry: 2026-11-25T08:00:00Z. */
export const READINGS_START = Date.UTC(2026, 10, 25, 8, 0, 0);

/** One reading with the PLC's own (source) timestamp. */
export function reading(machineId: string, tag: string, value: number | null, unit: string, timestamp: number, quality: Reading["quality"] = "good"): Reading {
  return { machineId: machineId as MachineId, tag: tag as TagName, timestamp, clock: "source", value, unit: unit as UnitId, quality };
}

/** A gateway's batch of `readings`, sent a minute after {@link READINGS_START}. */
export function batch(factoryId: string, gatewayId: string, readings: Reading[], sequence = 42): TelemetryBatch {
  return {
    schemaVersion: 1,
    factoryId: factoryId as TelemetryBatch["factoryId"],
    gatewayId: gatewayId as TelemetryBatch["gatewayId"],
    sequence,
    sentAt: READINGS_START + 60_000,
    readings,
  };
}

/** The event the telemetry rule hands a Lambda for a batch: published by its gateway's agent. */
export interface TelemetryRuleEvent {
  payload: string;
  topic: string;
  clientId: string;
  receivedAt: number;
}

/** The telemetry rule's event for `b`, with `overrides`. */
export function telemetryRuleEvent(b: TelemetryBatch, overrides: Partial<TelemetryRuleEvent> = {}): TelemetryRuleEvent {
  return {
    payload: Buffer.from(encodeTelemetryBatch(b)).toString("base64"),
    topic: telemetryTopic(b.factoryId, b.gatewayId, "plain"),
    clientId: agentClientId(b.factoryId, b.gatewayId),
    receivedAt: READINGS_START + 61_000,
    ...overrides,
  };
}

/** A small deterministic PRNG (mulberry32) so every run sees the same data. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface TagModel {
  readonly tag: string;
  readonly unit: UnitId;
  readonly base: number;
  readonly noise: number;
  readonly decimals: number;
}

/** Tags of a CNC machining centre as its PLC reports them. */
const TAGS: readonly TagModel[] = [
  { tag: "spindleSpeed", unit: "rpm", base: 12000, noise: 40, decimals: 0 },
  { tag: "spindleLoad", unit: "%", base: 62, noise: 4, decimals: 1 },
  { tag: "spindleTemperature", unit: "degC", base: 41.5, noise: 0.4, decimals: 2 },
  { tag: "coolantTemperature", unit: "degC", base: 22.3, noise: 0.2, decimals: 2 },
  { tag: "axisPower", unit: "kW", base: 18.7, noise: 1.5, decimals: 3 },
  { tag: "vibration", unit: "mm/s", base: 2.8, noise: 0.3, decimals: 3 },
];

/**
 * `count` readings from `machines` machines, each tag sampled every second with a little jitter in time,
 * values rounded as a PLC reports them, one reading in 200 uncertain and one in 1000 bad without value.
 */
export function realisticReadings(count: number, options: { machines?: number; seed?: number; start?: number } = {}): Reading[] {
  const rand = random(options.seed ?? 1);
  const machines = options.machines ?? 10;
  const start = options.start ?? READINGS_START;
  const readings: Reading[] = [];
  for (let i = 0; readings.length < count; i++) {
    const second = Math.floor(i / (machines * TAGS.length));
    const machine = Math.floor(i / TAGS.length) % machines;
    const model = TAGS[i % TAGS.length] as TagModel;
    const roll = rand();
    const quality = roll < 0.001 ? "bad" : roll < 0.006 ? "uncertain" : "good";
    const raw = model.base + (rand() - 0.5) * 2 * model.noise;
    const value = quality === "bad" ? null : Number(raw.toFixed(model.decimals));
    readings.push({
      machineId: `cnc-${String(machine + 1).padStart(2, "0")}` as MachineId,
      tag: model.tag as TagName,
      timestamp: start + second * 1000 + Math.floor(rand() * 20),
      clock: "source",
      value,
      unit: model.unit,
      quality,
    });
  }
  return readings;
}

/** A batch envelope around `readings`. */
export function batchOf(readings: Reading[], sequence = 42): TelemetryBatch {
  const last = readings[readings.length - 1];
  return {
    schemaVersion: 1,
    factoryId: "factory-a" as TelemetryBatch["factoryId"],
    gatewayId: "gw-cnc" as TelemetryBatch["gatewayId"],
    sequence,
    sentAt: (last?.timestamp ?? Date.UTC(2026, 10, 25, 8)) + 250,
    readings,
  };
}
