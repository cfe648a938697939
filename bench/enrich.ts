/**
 * The enrichment Lambda's pure core on 10 000-reading batches: readings per second through decode, envelope
 * check, validation, unit conversion and merging into records (and through each stage alone), and how many
 * WriteRecords calls a batch takes against the minimum, ceil(records / 100). No AWS call is made. Rates are
 * medians of several timed rounds on one core; compare them as ratios.
 */
import { agentClientId, decode, decodeTelemetryBatch, encodeTelemetryBatch, FactoryConfig, type Reading, telemetryTopic } from "@smart-factory/sdk";
import { chunk, Enricher, MAX_RECORDS_PER_WRITE } from "../lambdas/enrich/enrich";
import { batchOf, realisticReadings } from "../test/helpers/readings";
import { readStackConfig } from "../test/helpers/stacks";
import { rate, type BenchResult } from "./lib";

const READINGS = 10_000;


/** Factory A's stack config, as the bundled factory.json holds it. */
function factoryA(): FactoryConfig {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(readStackConfig("factory-a"))) {
    if (key === "aws:region") input.region = value;
    else if (key.startsWith("smart-factory:")) input[key.slice("smart-factory:".length)] = value;
  }
  return decode(FactoryConfig, input, "factory-a stack config");
}

/** Figures for one batch shape: throughput of each stage and the WriteRecords calls it needs. */
function measure(enricher: Enricher, readings: Reading[], now: number): Record<string, number> {
  const batch = batchOf(readings);
  const payload = Buffer.from(encodeTelemetryBatch(batch)).toString("base64");
  const event = {
    payload,
    topic: telemetryTopic(batch.factoryId, batch.gatewayId, "plain"),
    clientId: agentClientId(batch.factoryId, batch.gatewayId),
    receivedAt: batch.sentAt + 500,
  };
  const outcome = enricher.enrich(event, now);
  if (!outcome.ok) throw new Error(`the bench batch was rejected: ${outcome.rejection.message}`);
  if (outcome.rejections.length > 0) throw new Error(`the bench batch has ${outcome.rejections.length} refused readings`);
  const records = outcome.records.length;
  const calls = chunk(outcome.records).length;
  const decoded = decodeTelemetryBatch(payload);
  return {
    readings: readings.length,
    payloadBytes: Buffer.byteLength(payload, "base64"),
    records,
    measuresPerRecord: outcome.records.reduce((n, r) => n + (r.record.MeasureValues?.length ?? 0), 0) / records,
    writeRecordsCalls: calls,
    minimumWriteRecordsCalls: Math.ceil(records / MAX_RECORDS_PER_WRITE),
    oneRecordPerReadingCalls: Math.ceil(readings.length / MAX_RECORDS_PER_WRITE),
    readingsPerSecond: readings.length * rate(() => enricher.enrich(event, now)),
    decodeOnlyReadingsPerSecond: readings.length * rate(() => decodeTelemetryBatch(payload)),
    validateConvertMergeReadingsPerSecond: readings.length * rate(() => enricher.enrichReadings(decoded.readings, decoded.gatewayId, now)),
  };
}

export function run(): BenchResult {
  const enricher = new Enricher(factoryA());
  // As realisticReadings makes them: each reading carries its own source time, so few share a record.
  const jittered = realisticReadings(READINGS);
  // Tags of a machine sampled together (one timestamp per machine and second): six measures per record.
  const aligned = jittered.map((r) => ({ ...r, timestamp: Math.floor(r.timestamp / 1000) * 1000 }));
  const last = Math.max(...jittered.map((r) => r.timestamp));
  const now = last + 60_000;

  const figures: Record<string, number> = {};
  for (const [shape, readings] of [["jittered", jittered], ["aligned", aligned]] as const) {
    for (const [name, value] of Object.entries(measure(enricher, readings, now))) figures[`${shape}.${name}`] = value;
  }
  return {
    name: "enrich",
    figures,
    notes:
      `batches of ${READINGS} readings of factory A's 10 CNC machines x 6 tags; readingsPerSecond covers base64 + wire decode + codec ` +
      `validation + envelope checks + per-reading validation + unit conversion + merging into versioned records; ` +
      `writeRecordsCalls are chunks of at most ${MAX_RECORDS_PER_WRITE} records (no AWS call made)`,
  };
}
