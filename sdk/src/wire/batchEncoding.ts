/**
 * The wire encoding of a {@link TelemetryBatch}: what a gateway publishes to AWS IoT Core, which admits 128 KB
 * per message and 512 KB/s per connection, metered in 5 KB blocks.
 *
 * Layout (all whole numbers are unsigned LEB128 varints, signed ones zig-zag first):
 *
 * ```
 * "SF" 0x01 flags          magic, format version 1, flags bit 0: body is raw-deflate compressed
 * body:
 *   schemaVersion factoryId gatewayId sequence sentAt
 *   strings:  count, then each string once (machine ids, tag names, units)
 *   series:   count, then (machine, tag, unit) as indexes into the strings
 *   baseTime  timestamp of the first reading
 *   readings: count, then per reading, in the batch's order:
 *     series index, timestamp minus the previous reading's (zig-zag),
 *     header byte (bits 0-1 quality, 2-3 clock, 4-7 value kind), value
 * value kinds: 0 null; 1 integer (zig-zag); 2..7 decimal m / 10^(kind-1) with m zig-zag; 8 float32; 9 float64
 * ```
 *
 * Every reading keeps its order and exact value (a number is written in the shortest form that reads back as
 * the same double), so `decodeTelemetryBatch(encodeTelemetryBatch(b))` deep-equals `b`. A realistic batch takes
 * a few bytes per reading, against about 150 in JSON.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { TELEMETRY_BATCH_SCHEMA_VERSION, TelemetryBatch } from "../codecs/batch";
import type { Clock, Quality, Reading } from "../codecs/reading";
import { decode } from "../decode";
import { WireFormatError } from "../errors";
import { ByteReader, ByteWriter, stringSize, unzigzag, varintSize, zigzag } from "./bytes";

/** AWS IoT Core's hard limit on one message's payload, in bytes. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/** Version byte of the layout this module writes. */
export const WIRE_FORMAT_VERSION = 1;

const MAGIC_0 = 0x53; // "S"
const MAGIC_1 = 0x46; // "F"
const HEADER_BYTES = 4;
const FLAG_DEFLATE = 0x01;

const QUALITIES: readonly Quality[] = ["good", "uncertain", "bad"];
const CLOCKS: readonly Clock[] = ["source", "server", "gateway"];
const QUALITY_CODE = new Map(QUALITIES.map((q, i) => [q, i]));
const CLOCK_CODE = new Map(CLOCKS.map((c, i) => [c, i]));

const KIND_NULL = 0;
const KIND_INTEGER = 1;
const KIND_DECIMAL_1 = 2; // ..7 for 1..6 decimal places
const MAX_DECIMALS = 6;
const KIND_FLOAT32 = 8;
const KIND_FLOAT64 = 9;
const MAX_MANTISSA = 2 ** 51;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];

/** How a value is written: its kind and the number stored (mantissa, or the float itself). */
interface ValueForm {
  readonly kind: number;
  readonly stored: number;
  readonly size: number;
}

const NULL_FORM: ValueForm = { kind: KIND_NULL, stored: 0, size: 0 };

/** The shortest form that reads back as exactly `value`. */
function valueForm(value: number | null): ValueForm {
  if (value === null) return NULL_FORM;
  if (!Number.isFinite(value)) throw new WireFormatError(`cannot encode value ${value}: not a finite number`);
  let best: ValueForm = { kind: KIND_FLOAT64, stored: value, size: 8 };
  if (Object.is(value, -0)) return best;
  if (Math.fround(value) === value) best = { kind: KIND_FLOAT32, stored: value, size: 4 };
  for (let decimals = 0; decimals <= MAX_DECIMALS; decimals++) {
    const scale = POW10[decimals] as number;
    const mantissa = Math.round(value * scale);
    if (Math.abs(mantissa) >= MAX_MANTISSA) break;
    if (mantissa / scale === value) {
      const stored = zigzag(mantissa);
      const size = varintSize(stored);
      if (size < best.size) best = { kind: decimals === 0 ? KIND_INTEGER : KIND_DECIMAL_1 + decimals - 1, stored, size };
      break;
    }
  }
  return best;
}

function readValue(kind: number, reader: ByteReader): number | null {
  if (kind === KIND_NULL) return null;
  if (kind === KIND_INTEGER) return unzigzag(reader.varint("integer value"));
  if (kind >= KIND_DECIMAL_1 && kind < KIND_DECIMAL_1 + MAX_DECIMALS) {
    return unzigzag(reader.varint("decimal value")) / (POW10[kind - KIND_DECIMAL_1 + 1] as number);
  }
  if (kind === KIND_FLOAT32) return reader.float32("float32 value");
  if (kind === KIND_FLOAT64) return reader.float64("float64 value");
  throw new WireFormatError(`bad value kind ${kind} at byte ${reader.offset - 1}`);
}

function headerByte(reading: Reading, kind: number): number {
  const quality = QUALITY_CODE.get(reading.quality);
  const clock = CLOCK_CODE.get(reading.clock);
  if (quality === undefined) throw new WireFormatError(`cannot encode quality ${JSON.stringify(reading.quality)}`);
  if (clock === undefined) throw new WireFormatError(`cannot encode clock ${JSON.stringify(reading.clock)}`);
  return quality | (clock << 2) | (kind << 4);
}

/** Options of {@link encodeTelemetryBatch}. */
export interface EncodeOptions {
  /**
   * `auto` (default) compresses the body when that makes the message smaller; `never` and `always` force it.
   * A compressed message is never larger than the same message uncompressed plus a few bytes.
   */
  readonly compression?: "auto" | "never" | "always";
}

/**
 * Encode a batch for publishing.
 *
 * @throws WireFormatError when a value cannot be carried (not finite, a sequence beyond 2^53).
 * @example
 * ```ts
 * const payload = encodeTelemetryBatch(batch);
 * if (payload.length > MAX_MESSAGE_BYTES) throw new Error("split the batch");
 * ```
 */
export function encodeTelemetryBatch(batch: TelemetryBatch, options: EncodeOptions = {}): Uint8Array {
  const body = encodeBody(batch);
  const mode = options.compression ?? "auto";
  let flags = 0;
  let payload = body;
  if (mode !== "never") {
    const compressed = deflateRawSync(body);
    if (mode === "always" || compressed.length < body.length) {
      payload = compressed;
      flags |= FLAG_DEFLATE;
    }
  }
  const out = new Uint8Array(HEADER_BYTES + payload.length);
  out.set([MAGIC_0, MAGIC_1, WIRE_FORMAT_VERSION, flags]);
  out.set(payload, HEADER_BYTES);
  return out;
}

function encodeBody(batch: TelemetryBatch): Uint8Array {
  const strings = new Map<string, number>();
  const series = new Map<string, number>();
  const seriesList: [number, number, number][] = [];
  const intern = (s: string): number => {
    let index = strings.get(s);
    if (index === undefined) {
      index = strings.size;
      strings.set(s, index);
    }
    return index;
  };
  const seriesOf = batch.readings.map((r) => {
    const key = `${r.machineId}\u0000${r.tag}\u0000${r.unit}`;
    let index = series.get(key);
    if (index === undefined) {
      index = seriesList.length;
      series.set(key, index);
      seriesList.push([intern(r.machineId), intern(r.tag), intern(r.unit)]);
    }
    return index;
  });

  const w = new ByteWriter(64 + batch.readings.length * 8);
  w.varint(batch.schemaVersion);
  w.string(batch.factoryId);
  w.string(batch.gatewayId);
  w.varint(batch.sequence);
  w.varint(batch.sentAt);
  w.varint(strings.size);
  for (const s of strings.keys()) w.string(s);
  w.varint(seriesList.length);
  for (const [m, t, u] of seriesList) {
    w.varint(m);
    w.varint(t);
    w.varint(u);
  }
  const first = batch.readings[0];
  let previous = first === undefined ? 0 : first.timestamp;
  w.varint(previous);
  w.varint(batch.readings.length);
  batch.readings.forEach((r, i) => {
    const form = valueForm(r.value);
    w.varint(seriesOf[i] as number);
    w.varint(zigzag(r.timestamp - previous));
    previous = r.timestamp;
    w.byte(headerByte(r, form.kind));
    if (form.kind === KIND_FLOAT32) w.float32(form.stored);
    else if (form.kind === KIND_FLOAT64) w.float64(form.stored);
    else if (form.kind !== KIND_NULL) w.varint(form.stored);
  });
  return w.finish();
}

/**
 * Decode a message published by a gateway (raw bytes, or the base64 text an IoT rule's `encode(*, 'base64')`
 * hands a Lambda) and validate it against the {@link TelemetryBatch} contract.
 *
 * @throws WireFormatError for bytes that are not a message of this format; ContractError for a message whose
 *   content breaks the contract (an id, a unit, a timestamp), naming the reading and field.
 */
export function decodeTelemetryBatch(payload: Uint8Array | string): TelemetryBatch {
  const bytes = typeof payload === "string" ? fromBase64(payload) : payload;
  if (bytes.length < HEADER_BYTES || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) {
    throw new WireFormatError("not a telemetry batch: the message does not start with the bytes \"SF\"");
  }
  if (bytes[2] !== WIRE_FORMAT_VERSION) {
    throw new WireFormatError(`unsupported wire format version ${bytes[2]}: this SDK reads version ${WIRE_FORMAT_VERSION}`);
  }
  const flags = bytes[3] as number;
  if ((flags & ~FLAG_DEFLATE) !== 0) throw new WireFormatError(`unknown flags 0x${flags.toString(16)} in byte 3`);
  let body = bytes.subarray(HEADER_BYTES);
  if ((flags & FLAG_DEFLATE) !== 0) {
    try {
      // A body larger than this cannot come from a message IoT Core accepted: refuse to inflate a "zip bomb".
      body = inflateRawSync(body, { maxOutputLength: 64 * MAX_MESSAGE_BYTES });
    } catch (error) {
      throw new WireFormatError(`corrupt compressed body: ${(error as Error).message}`, { cause: error });
    }
  }
  return decode(TelemetryBatch, decodeBody(body), "telemetry batch");
}

function decodeBody(body: Uint8Array): unknown {
  const r = new ByteReader(body);
  const schemaVersion = r.varint("schema version");
  if (schemaVersion !== TELEMETRY_BATCH_SCHEMA_VERSION) {
    throw new WireFormatError(`unsupported batch schema version ${schemaVersion}: this SDK reads ${TELEMETRY_BATCH_SCHEMA_VERSION}`);
  }
  const factoryId = r.string("factory id");
  const gatewayId = r.string("gateway id");
  const sequence = r.varint("sequence");
  const sentAt = r.varint("sent-at time");
  const stringCount = bounded(r.varint("string count"), r.remaining, "string count");
  const strings: string[] = [];
  for (let i = 0; i < stringCount; i++) strings.push(r.string(`string ${i}`));
  const seriesCount = bounded(r.varint("series count"), r.remaining / 3, "series count");
  const series: { machineId: string; tag: string; unit: string }[] = [];
  const lookup = (what: string): string => {
    const index = r.varint(what);
    const s = strings[index];
    if (s === undefined) throw new WireFormatError(`bad ${what} at byte ${r.offset}: string ${index} of ${strings.length}`);
    return s;
  };
  for (let i = 0; i < seriesCount; i++) {
    series.push({ machineId: lookup("series machine"), tag: lookup("series tag"), unit: lookup("series unit") });
  }
  let timestamp = r.varint("base time");
  const count = bounded(r.varint("reading count"), r.remaining / 3, "reading count");
  const readings: Reading[] = [];
  for (let i = 0; i < count; i++) {
    const index = r.varint(`reading ${i} series`);
    const s = series[index];
    if (s === undefined) throw new WireFormatError(`bad series index ${index} of reading ${i}: the batch has ${series.length}`);
    timestamp += unzigzag(r.varint(`reading ${i} time`));
    const header = r.byte(`reading ${i} header`);
    const quality = QUALITIES[header & 0x03];
    const clock = CLOCKS[(header >> 2) & 0x03];
    if (quality === undefined || clock === undefined) {
      throw new WireFormatError(`bad header 0x${header.toString(16)} of reading ${i} at byte ${r.offset - 1}`);
    }
    const value = readValue(header >> 4, r);
    readings.push({ machineId: s.machineId, tag: s.tag, timestamp, clock, value, unit: s.unit, quality } as Reading);
  }
  if (r.remaining !== 0) throw new WireFormatError(`${r.remaining} unexpected bytes after the last reading`);
  return { schemaVersion, factoryId, gatewayId, sequence, sentAt, readings };
}

/** A count read from the wire cannot exceed what the remaining bytes could hold. */
function bounded(count: number, limit: number, what: string): number {
  if (count > limit) throw new WireFormatError(`bad ${what} ${count}: the message is too short to hold that many`);
  return count;
}

function fromBase64(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
    throw new WireFormatError("not a telemetry batch: the text is not base64");
  }
  return Buffer.from(trimmed, "base64");
}

/** The envelope fields of a batch, known before its readings. */
export type BatchEnvelope = Pick<TelemetryBatch, "factoryId" | "gatewayId" | "sequence" | "sentAt">;

/**
 * Cuts a stream of readings into batches whose encoding fits a size limit. It tracks the exact size of the
 * uncompressed encoding as readings are added; compression is used only when it makes the message smaller, so
 * every batch it closes fits, and it holds every reading that fits uncompressed.
 *
 * @example
 * ```ts
 * const sizer = new BatchSizer({ factoryId, gatewayId, sequence, sentAt: Date.now() });
 * let n = 0;
 * while (n < pending.length && sizer.tryAdd(pending[n])) n++;
 * const payload = encodeTelemetryBatch({ schemaVersion: 1, ...envelope, readings: pending.slice(0, n) });
 * ```
 */
export class BatchSizer {
  private readonly strings = new Map<string, number>();
  private readonly series = new Map<string, number>();
  private size: number;
  private previous: number | undefined;
  private readings = 0;

  constructor(
    envelope: BatchEnvelope,
    private readonly maxBytes: number = MAX_MESSAGE_BYTES,
  ) {
    this.size =
      HEADER_BYTES +
      varintSize(TELEMETRY_BATCH_SCHEMA_VERSION) +
      stringSize(envelope.factoryId) +
      stringSize(envelope.gatewayId) +
      varintSize(envelope.sequence) +
      varintSize(envelope.sentAt) +
      4; // the string, series and reading counts and the base time, all 0 in a batch without readings
  }

  /** Readings accepted so far. */
  get count(): number {
    return this.readings;
  }

  /** Size in bytes of the uncompressed encoding of the batch of the readings accepted so far. */
  get bytes(): number {
    return this.size;
  }

  /** Add `reading` if the batch still fits with it; returns whether it was added. */
  tryAdd(reading: Reading): boolean {
    const parts: string[] = [reading.machineId, reading.tag, reading.unit];
    const fresh = parts.filter((s, i) => !this.strings.has(s) && parts.indexOf(s) === i);
    const stringIndex = (s: string): number => this.strings.get(s) ?? this.strings.size + fresh.indexOf(s);
    const key = parts.join("\u0000");
    const knownSeries = this.series.get(key);
    const seriesIndex = knownSeries ?? this.series.size;
    const stringCount = this.strings.size + fresh.length;
    const seriesCount = this.series.size + (knownSeries === undefined ? 1 : 0);

    let extra = 0;
    for (const s of fresh) extra += stringSize(s);
    if (knownSeries === undefined) for (const s of parts) extra += varintSize(stringIndex(s));
    extra += growth(this.strings.size, stringCount) + growth(this.series.size, seriesCount);
    extra += growth(this.readings, this.readings + 1);
    if (this.previous === undefined) extra += varintSize(reading.timestamp) - 1; // the base time
    extra += varintSize(seriesIndex) + varintSize(zigzag(reading.timestamp - (this.previous ?? reading.timestamp)));
    extra += 1 + valueForm(reading.value).size;
    if (this.size + extra > this.maxBytes) return false;

    this.size += extra;
    const base = this.strings.size;
    fresh.forEach((s, i) => this.strings.set(s, base + i));
    if (knownSeries === undefined) this.series.set(key, seriesIndex);
    this.previous = reading.timestamp;
    this.readings++;
    return true;
  }
}

/** Extra bytes a count's varint takes when it grows from `before` to `after`. */
function growth(before: number, after: number): number {
  return varintSize(after) - varintSize(before);
}
