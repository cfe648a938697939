/**
 * The pure core of the enrichment Lambda: no AWS client, no clock, no I/O. From a telemetry rule event it
 * decodes the batch, checks its envelope against the connection it arrived on, validates every reading against
 * the factory's inventory, converts values to canonical units and merges them into Timestream multi-measure
 * records (the data model of `telemetry/model` in the SDK). What it cannot accept it returns as rejections with
 * a reason; `handler.ts` writes the records and the dead letters.
 */
import { createHash } from "node:crypto";
import type { _Record, MeasureValue } from "@aws-sdk/client-timestream-write";
import {
  agentClientId,
  check,
  isGatewayClientId,
  MAX_AGENT_CONNECTIONS,
  decodeTelemetryBatch,
  formatIssues,
  listMachines,
  parseTopic,
  qualityMeasureName,
  ReadingValidator,
  tagSetOf,
  TELEMETRY_MEASURE_NAME,
  TelemetryRuleEvent,
  thingName,
  type FactoryConfig,
  type Quality,
  type Reading,
  type ReadingRefusalReason,
  type TelemetryBatch,
} from "@smart-factory/sdk";
import type { EnvelopeRefusalReason } from "../shared/observability";

/** Timestream's limit on the records of one `WriteRecords` call. */
export const MAX_RECORDS_PER_WRITE = 100;

/**
 * The attributes every telemetry record shares, sent once per `WriteRecords` call as `CommonAttributes`. Nothing
 * that varies between records is here: dimensions, time and version are on each record.
 */
export const COMMON_ATTRIBUTES = {
  MeasureName: TELEMETRY_MEASURE_NAME,
  MeasureValueType: "MULTI",
  TimeUnit: "MILLISECONDS",
} as const satisfies _Record;

/** Why a whole batch was refused: nothing of it is written. */
export type BatchRejectionReason = EnvelopeRefusalReason;

/** Why one reading was refused while the rest of its batch is written: the inventory checks, or a conflict. */
export type ReadingRejectionReason = ReadingRefusalReason | "duplicateConflict";

/** Where a message came from and what it claims, as far as it is known. */
export interface Envelope {
  /** `topic()` of the rule, or `null` when the event had none. */
  readonly topic: string | null;
  /** `clientid()` of the rule, or `null` when the event had none. */
  readonly clientId: string | null;
  /** `timestamp()` of the rule, or `null` when the event had none. */
  readonly receivedAt: number | null;
  /** The batch's factory id, once the payload decoded. */
  readonly factoryId: string | null;
  /** The batch's gateway id, once the payload decoded. */
  readonly gatewayId: string | null;
  /** The batch's sequence number, once the payload decoded. */
  readonly sequence: number | null;
  /** The gateway's clock when it built the batch, once the payload decoded. */
  readonly sentAt: number | null;
  /** Short SHA-256 of topic, client id and payload: names the message in dead-letter keys. */
  readonly digest: string;
  /** Who sent it for dead-letter keys: the verified gateway, else the thing of the topic, else `unknown`. */
  readonly source: string;
}

/** A batch refused as a whole, with what is needed to dead-letter it (the original payload included). */
export interface BatchRejection {
  readonly reason: BatchRejectionReason;
  readonly message: string;
  readonly envelope: Envelope;
  /** Readings in the batch, when it decoded. */
  readonly readingCount: number;
  /** The payload exactly as received (base64), when the event had one. */
  readonly payload: string | null;
}

/** A reading refused, naming the offending field and its value. */
export interface ReadingRejection {
  /** Position of the reading in its batch. */
  readonly index: number;
  readonly reason: ReadingRejectionReason;
  readonly field: "machineId" | "tag" | "unit" | "value" | "timestamp";
  /** The value of `field` that was refused. */
  readonly value: string | number | null;
  readonly message: string;
  readonly reading: Reading;
}

/** One Timestream multi-measure record and where it came from. */
export interface EnrichedRecord {
  readonly machineId: string;
  readonly timestamp: number;
  /** Dimensions, time, version and measures; the rest is {@link COMMON_ATTRIBUTES}. */
  readonly record: _Record;
  /** Positions in the batch of the readings merged into the record (exact duplicates included). */
  readonly readingIndexes: readonly number[];
}

/** A batch whose envelope checked out: its records and its refused readings. */
export interface AcceptedBatch {
  readonly ok: true;
  readonly envelope: Envelope & { readonly factoryId: string; readonly gatewayId: string; readonly sequence: number; readonly sentAt: number };
  readonly readingCount: number;
  /** Sorted by machine, then time. */
  readonly records: readonly EnrichedRecord[];
  /** Sorted by position in the batch. */
  readonly rejections: readonly ReadingRejection[];
}

/** Outcome of {@link Enricher.enrich}. */
export type EnrichOutcome = AcceptedBatch | { readonly ok: false; readonly rejection: BatchRejection };

interface MachineInfo {
  readonly dimensions: NonNullable<_Record["Dimensions"]>;
}

interface Candidate {
  readonly index: number;
  readonly reading: Reading;
  /** The value in the tag's canonical unit, `null` for a reading without value. */
  readonly canonical: number | null;
}

const QUALITY_RANK: Readonly<Record<Quality, number>> = { good: 0, uncertain: 1, bad: 2 };

/**
 * Turns telemetry rule events into Timestream records for one factory. Build it once per container (it indexes
 * the inventory and caches unit converters) and call {@link Enricher.enrich} per event.
 */
export class Enricher {
  private readonly factoryId: string;
  private readonly machines = new Map<string, MachineInfo>();
  private readonly gateways: ReadonlySet<string>;
  private readonly validator: ReadingValidator;

  constructor(config: FactoryConfig) {
    this.factoryId = config.factory.id;
    this.gateways = new Set(config.gateways.map((g) => g.id));
    this.validator = new ReadingValidator(config);
    for (const placement of listMachines(config)) {
      const values: Record<string, string> = {
        factory: this.factoryId,
        line: placement.line.id,
        machine_type: placement.type.id,
        machine: placement.machine.id,
      };
      // Order of TELEMETRY_DIMENSIONS: factory, line, machine_type, machine (tag_set is added per record).
      const dimensions = (["factory", "line", "machine_type", "machine"] as const).map((name) => ({
        Name: name,
        Value: values[name],
        DimensionValueType: "VARCHAR" as const,
      }));
      this.machines.set(placement.machine.id, { dimensions });
    }
  }

  /** Check, validate, convert and merge one telemetry rule event; `now` (epoch ms) bounds reading times. */
  enrich(event: unknown, now: number): EnrichOutcome {
    const raw = (typeof event === "object" && event !== null ? event : {}) as Record<string, unknown>;
    const payload = typeof raw.payload === "string" ? raw.payload : null;
    const topic = typeof raw.topic === "string" ? raw.topic : null;
    const clientId = typeof raw.clientId === "string" ? raw.clientId : null;
    const receivedAt = typeof raw.receivedAt === "number" && Number.isSafeInteger(raw.receivedAt) ? raw.receivedAt : null;
    const digest = messageDigest(topic, clientId, payload ?? safeJson(event));
    let envelope: Envelope = { topic, clientId, receivedAt, factoryId: null, gatewayId: null, sequence: null, sentAt: null, digest, source: "unknown" };
    let readingCount = 0;
    const reject = (reason: BatchRejectionReason, message: string): EnrichOutcome => ({
      ok: false,
      rejection: { reason, message, envelope, readingCount, payload },
    });

    const checked = check(TelemetryRuleEvent, event);
    if (!checked.ok) return reject("invalidEvent", `not a telemetry rule event: ${formatIssues(checked.issues)}`);
    const ev = checked.value;

    let parsed: ReturnType<typeof parseTopic>;
    try {
      parsed = parseTopic(ev.topic);
    } catch (error) {
      return reject("badTopic", errorMessage(error));
    }
    envelope = { ...envelope, source: keySegment(parsed.thingName) };
    if (parsed.kind !== "telemetry") return reject("badTopic", `topic ${JSON.stringify(ev.topic)} is a ${parsed.kind} topic, not a telemetry topic`);
    if (parsed.factoryId !== this.factoryId) {
      return reject("factoryMismatch", `topic ${JSON.stringify(ev.topic)} is of factory ${parsed.factoryId}; this function serves factory ${this.factoryId}`);
    }

    let batch: TelemetryBatch;
    try {
      batch = decodeTelemetryBatch(ev.payload);
    } catch (error) {
      return reject("undecodablePayload", `payload of ${ev.payload.length} base64 characters does not decode: ${errorMessage(error)}`);
    }
    readingCount = batch.readings.length;
    envelope = { ...envelope, factoryId: batch.factoryId, gatewayId: batch.gatewayId, sequence: batch.sequence, sentAt: batch.sentAt };

    if (batch.factoryId !== this.factoryId) {
      return reject("factoryMismatch", `batch factoryId ${JSON.stringify(batch.factoryId)} arrived on topic ${JSON.stringify(ev.topic)} of factory ${this.factoryId}`);
    }
    const batchThing = thingName(batch.factoryId, batch.gatewayId);
    if (batchThing !== parsed.thingName) {
      return reject(
        "gatewayMismatch",
        `batch gatewayId ${JSON.stringify(batch.gatewayId)} (thing ${batchThing}) arrived on topic ${JSON.stringify(ev.topic)} of thing ${parsed.thingName}`,
      );
    }
    if (!this.gateways.has(batch.gatewayId)) {
      return reject("unknownGateway", `gateway ${JSON.stringify(batch.gatewayId)} is not a gateway of factory ${this.factoryId} (${[...this.gateways].join(", ")})`);
    }
    if (!isGatewayClientId(batch.factoryId, batch.gatewayId, ev.clientId)) {
      return reject(
        "clientIdMismatch",
        `client id ${JSON.stringify(ev.clientId)} published as gateway ${batch.gatewayId}; only ${JSON.stringify(agentClientId(batch.factoryId, batch.gatewayId))} (or -2 ... -${MAX_AGENT_CONNECTIONS}) or ${JSON.stringify(batchThing)} may`,
      );
    }

    const accepted = { ...envelope, source: batch.gatewayId, factoryId: batch.factoryId as string, gatewayId: batch.gatewayId as string, sequence: batch.sequence, sentAt: batch.sentAt };
    const { records, rejections } = this.enrichReadings(batch.readings, batch.gatewayId, now);
    return { ok: true, envelope: accepted, readingCount, records, rejections };
  }

  /**
   * Validate, convert and merge the readings of a batch from `gatewayId` (whose envelope was checked). The same
   * readings in any order, or split into several calls at machine/timestamp boundaries, give the same records.
   */
  enrichReadings(readings: readonly Reading[], gatewayId: string, now: number): { records: EnrichedRecord[]; rejections: ReadingRejection[] } {
    const rejections: ReadingRejection[] = [];
    // machine -> timestamp -> tag -> candidates
    const groups = new Map<string, Map<number, Map<string, Candidate[]>>>();
    readings.forEach((reading, index) => {
      const verdict = this.validator.check(reading, gatewayId, now);
      if (!verdict.ok) {
        rejections.push({ index, reason: verdict.reason, field: verdict.field, value: verdict.value, message: `reading ${index} (${reading.machineId}.${reading.tag}): ${verdict.message}`, reading });
        return;
      }
      const canonical = verdict.canonical;
      let byTime = groups.get(reading.machineId);
      if (byTime === undefined) groups.set(reading.machineId, (byTime = new Map<number, Map<string, Candidate[]>>()));
      let byTag = byTime.get(reading.timestamp);
      if (byTag === undefined) byTime.set(reading.timestamp, (byTag = new Map<string, Candidate[]>()));
      const candidates = byTag.get(reading.tag);
      if (candidates === undefined) byTag.set(reading.tag, [{ index, reading, canonical }]);
      else candidates.push({ index, reading, canonical });
    });

    const records: EnrichedRecord[] = [];
    for (const machineId of [...groups.keys()].sort(compareStrings)) {
      const machine = this.machines.get(machineId) as MachineInfo;
      const byTime = groups.get(machineId) as Map<number, Map<string, Candidate[]>>;
      for (const timestamp of [...byTime.keys()].sort((a, b) => a - b)) {
        const byTag = byTime.get(timestamp) as Map<string, Candidate[]>;
        const measures: MeasureValue[] = [];
        const indexes: number[] = [];
        for (const [tag, candidates] of byTag) {
          const winner = this.resolve(candidates, rejections);
          for (const c of candidates) if (sameReading(c, winner)) indexes.push(c.index);
          if (winner.canonical !== null) measures.push({ Name: tag, Value: formatDouble(winner.canonical), Type: "DOUBLE" });
          if (winner.reading.quality !== "good") measures.push({ Name: qualityMeasureName(tag), Value: winner.reading.quality, Type: "VARCHAR" });
        }
        measures.sort((a, b) => compareStrings(a.Name ?? "", b.Name ?? ""));
        indexes.sort((a, b) => a - b);
        const tagSet = { Name: "tag_set", Value: tagSetOf([...byTag.keys()]), DimensionValueType: "VARCHAR" as const };
        const record: _Record = { Dimensions: [...machine.dimensions, tagSet], Time: String(timestamp), MeasureValues: measures };
        record.Version = recordVersion(record);
        records.push({ machineId, timestamp, record, readingIndexes: indexes });
      }
    }
    rejections.sort((a, b) => a.index - b.index);
    return { records, rejections };
  }

  /**
   * The reading kept among readings of one machine, tag and timestamp: the best quality, then one with a value,
   * then the smallest canonical value. Others equal to it (same quality and canonical value) are duplicates of it;
   * the rest are refused as `duplicateConflict`. The choice depends only on the readings, not on their order.
   */
  private resolve(candidates: readonly Candidate[], rejections: ReadingRejection[]): Candidate {
    if (candidates.length === 1) return candidates[0] as Candidate;
    const sorted = [...candidates].sort(compareCandidates);
    const winner = sorted[0] as Candidate;
    for (const c of sorted.slice(1)) {
      if (sameReading(c, winner)) continue;
      const r = c.reading;
      rejections.push({
        index: c.index,
        reason: "duplicateConflict",
        field: "value",
        value: r.value,
        message:
          `reading ${c.index} (${r.machineId}.${r.tag}): value ${describeReading(c)} at ${new Date(r.timestamp).toISOString()} conflicts with ` +
          `${describeReading(winner)} of reading ${winner.index} for the same machine, tag and timestamp; kept the better quality, then the smaller value`,
        reading: r,
      });
    }
    return winner;
  }

}

function compareCandidates(a: Candidate, b: Candidate): number {
  const q = QUALITY_RANK[a.reading.quality] - QUALITY_RANK[b.reading.quality];
  if (q !== 0) return q;
  if (a.canonical === null || b.canonical === null) {
    if (a.canonical !== b.canonical) return a.canonical === null ? 1 : -1;
  } else if (a.canonical !== b.canonical) {
    return a.canonical < b.canonical ? -1 : 1;
  }
  return a.index - b.index;
}

function sameReading(a: Candidate, b: Candidate): boolean {
  return a.reading.quality === b.reading.quality && a.canonical === b.canonical;
}

function describeReading(c: Candidate): string {
  const r = c.reading;
  return r.value === null ? `null (${r.quality})` : `${r.value} ${r.unit} (${r.quality})`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A DOUBLE measure value as Timestream reads it: the shortest decimal that reads back as the same double. */
export function formatDouble(value: number): string {
  return Object.is(value, -0) ? "0" : String(value);
}

/**
 * The `Version` of a record, derived from its content (dimensions, time, measures) alone.
 *
 * Why: IoT Core, Lambda and the gateway may all deliver a batch more than once, and a record's identity in
 * Timestream is (dimensions, measure name, time). Timestream accepts a record identical to a stored one, and
 * rejects one with the same identity and different measures unless its version is higher (then it replaces the
 * stored one). With a version that is a function of the content:
 * - a redelivery produces byte-identical records with the same version, so it is idempotent, and a rejection
 *   reporting `ExistingVersion` equal to ours can only mean the identical record is already stored (a duplicate
 *   delivery, counted as written);
 * - two different records for one identity (the same tags of a machine at one time with other values: a faulty PLC
 *   clock, a PLC sending again with other values) end as the one with the higher version whatever the order they
 *   arrive in, so replaying the raw archive in any order rebuilds the same table; the other is dead-lettered when
 *   it arrives second (rejected with a different `ExistingVersion`) and otherwise remains in the raw archive.
 * A version from the arrival time or the batch sequence would instead let a later, conflicting delivery replace
 * data silently and make the same readings give different records depending on how they were batched.
 *
 * The value is the first 48 bits of a SHA-256, plus one: a positive safe integer, as Timestream's Long needs.
 */
export function recordVersion(record: Pick<_Record, "Dimensions" | "Time" | "MeasureValues">): number {
  const parts = [
    (record.Dimensions ?? []).map((d) => `${d.Name ?? ""}=${d.Value ?? ""}`).join("\u0001"),
    record.Time ?? "",
    (record.MeasureValues ?? []).map((m) => `${m.Name ?? ""}:${m.Type ?? ""}=${m.Value ?? ""}`).join("\u0001"),
  ];
  const hash = createHash("sha256").update(parts.join("\u0000")).digest();
  return hash.readUIntBE(0, 6) + 1;
}

/** Cut `items` into chunks of at most `size` (Timestream takes {@link MAX_RECORDS_PER_WRITE} records a call). */
export function chunk<T>(items: readonly T[], size: number = MAX_RECORDS_PER_WRITE): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------- dead letters

/** Kinds of dead letter: a whole batch, refused readings, records Timestream rejected, readings the lake did not take. */
export type DeadLetterKind = "batch" | "readings" | "records" | "lake";

/** A record Timestream rejected, with its reason. */
export interface RejectedRecordItem {
  readonly reason: string;
  readonly existingVersion: number | null;
  readonly machineId: string;
  readonly timestamp: number;
  readonly readingIndexes: readonly number[];
  /** The complete record (common attributes included), ready to be written again. */
  readonly record: _Record;
}

/** The JSON document written to the dead-letter bucket. */
export interface DeadLetter extends Omit<Envelope, "digest"> {
  readonly reason: string;
  readonly message: string;
  /** The original payload (base64), for whole-batch rejections only. */
  readonly payload?: string | null;
  readonly items: readonly (ReadingRejection | RejectedRecordItem)[];
}

/**
 * The S3 key of a dead letter: `enrich/<factory>/<yyyy>/<mm>/<dd>/<source>-<sequence>-<digest>-<kind>.json`, the
 * date being the batch's `sentAt` (else `receivedAt`, else `undated`); readings the data lake did not take are
 * under `enrich/lake/<factory>/` instead. It depends only on the message, so a redelivered batch overwrites its
 * dead letters instead of adding new ones.
 */
export function deadLetterKey(factoryId: string, envelope: Envelope, kind: DeadLetterKind): string {
  const time = envelope.sentAt ?? envelope.receivedAt;
  let day = "undated";
  if (time !== null && Number.isFinite(time) && Math.abs(time) < 8.64e15) {
    const d = new Date(time);
    day = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, "0")}/${String(d.getUTCDate()).padStart(2, "0")}`;
  }
  const sequence = envelope.sequence === null ? "noseq" : String(envelope.sequence);
  const prefix = kind === "lake" ? lakeDeadLetterPrefix(factoryId) : deadLetterPrefix(factoryId);
  return `${prefix}${day}/${envelope.source}-${sequence}-${envelope.digest}-${kind}.json`;
}

/** The key prefix of every dead letter of a factory's enrichment function (what its IAM policy allows). */
export function deadLetterPrefix(factoryId: string): string {
  return `enrich/${keySegment(factoryId)}/`;
}

/** The key prefix of a factory's readings the data lake did not take (within what the function's IAM policy allows). */
export function lakeDeadLetterPrefix(factoryId: string): string {
  return `enrich/lake/${keySegment(factoryId)}/`;
}

/** The dead letter of a batch refused as a whole: the reason and the original payload. */
export function batchDeadLetter(rejection: BatchRejection): DeadLetter {
  return { ...envelopeFields(rejection.envelope), reason: rejection.reason, message: rejection.message, payload: rejection.payload, items: [] };
}

/** The dead letter of the refused readings of an accepted batch. */
export function readingsDeadLetter(batch: AcceptedBatch): DeadLetter {
  const counts = new Map<string, number>();
  for (const r of batch.rejections) counts.set(r.reason, (counts.get(r.reason) ?? 0) + 1);
  const summary = [...counts].map(([reason, n]) => `${n} ${reason}`).join(", ");
  return {
    ...envelopeFields(batch.envelope),
    reason: "readingsRejected",
    message: `${batch.rejections.length} of ${batch.readingCount} readings refused (${summary})`,
    items: batch.rejections,
  };
}

/** The dead letter of the records Timestream rejected for an accepted batch. */
export function recordsDeadLetter(batch: AcceptedBatch, items: readonly RejectedRecordItem[]): DeadLetter {
  return {
    ...envelopeFields(batch.envelope),
    reason: "recordsRejectedByTimestream",
    message: `${items.length} of ${batch.records.length} records rejected by Timestream`,
    items,
  };
}

function envelopeFields(e: Envelope): Omit<Envelope, "digest"> {
  const { digest: _digest, ...fields } = e;
  return fields;
}

// ---------------------------------------------------------------------------------------------- helpers

function messageDigest(topic: string | null, clientId: string | null, payload: string): string {
  return createHash("sha256").update(`${topic ?? ""}\n${clientId ?? ""}\n${payload}`).digest("hex").slice(0, 16);
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value) as string | undefined; // undefined for undefined, functions, symbols
    return text ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A string safe as one segment of an S3 key (ids already are; a topic level may hold anything). */
function keySegment(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
  return clean === "" ? "unknown" : clean;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
