/**
 * The telemetry wire format against plain JSON: bytes per reading of a realistic batch, and how many batches a
 * second one core encodes and decodes. Rates are medians of several timed rounds; compare them as ratios.
 */
import { BatchSizer, decodeTelemetryBatch, encodeTelemetryBatch, MAX_MESSAGE_BYTES, type Reading, type TelemetryBatch } from "@smart-factory/sdk";
import { batchOf, realisticReadings } from "../test/helpers/readings";
import { rate, type BenchResult } from "./lib";


function largestBatch(readings: Reading[]): TelemetryBatch {
  const probe = batchOf(readings.slice(0, 1));
  const sizer = new BatchSizer(probe);
  let n = 0;
  while (n < readings.length && sizer.tryAdd(readings[n] as Reading)) n++;
  return { ...probe, readings: readings.slice(0, n) };
}

export function run(): BenchResult {
  // 10 machines x 6 tags sampled every second for 10 s: what a gateway sends about every 10 s.
  const batch = batchOf(realisticReadings(600));
  const n = batch.readings.length;
  const json = Buffer.from(JSON.stringify(batch));
  const raw = encodeTelemetryBatch(batch, { compression: "never" });
  const sent = encodeTelemetryBatch(batch);
  const full = largestBatch(realisticReadings(40_000));
  const fullSent = encodeTelemetryBatch(full);

  const figures = {
    readingsPerBatch: n,
    jsonBytesPerReading: json.length / n,
    wireBytesPerReadingUncompressed: raw.length / n,
    wireBytesPerReading: sent.length / n,
    jsonToWireRatio: json.length / sent.length,
    readingsPer128KbMessage: full.readings.length,
    bytesOfFullMessageAsSent: fullSent.length,
    encodesPerSecond: rate(() => encodeTelemetryBatch(batch)),
    decodesPerSecond: rate(() => decodeTelemetryBatch(sent)),
    jsonStringifyPerSecond: rate(() => JSON.stringify(batch)),
    jsonParsePerSecond: rate(() => JSON.parse(json.toString()) as unknown),
    fullMessageEncodesPerSecond: rate(() => encodeTelemetryBatch(full), 3),
    fullMessageDecodesPerSecond: rate(() => decodeTelemetryBatch(fullSent), 3),
  };
  return {
    name: "codec",
    figures,
    notes: `batch of ${n} readings (10 machines x 6 tags x 10 s); decode includes validation against the TelemetryBatch codec; limit ${MAX_MESSAGE_BYTES} bytes per message`,
  };
}
