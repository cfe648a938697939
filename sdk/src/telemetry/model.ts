/**
 * The telemetry data model shared by the enrichment Lambda (which writes it), the TelemetryStore component
 * (which creates the tables) and the SDK's telemetry queries (which read it).
 *
 * One Timestream multi-measure record per machine, timestamp and set of tags read at that timestamp:
 * - dimensions `factory`, `line`, `machine_type`, `machine` (ids from the stack config, never from the payload) and
 *   `tag_set` ({@link tagSetOf} the record's tags);
 * - measure name {@link TELEMETRY_MEASURE_NAME} for every record, so a record's identity is (dimensions, time);
 * - one DOUBLE measure per tag, named after the tag, in the tag's canonical SI unit (see `units`);
 * - for a reading whose quality is not `good`, a VARCHAR measure `<tag>_quality` (`uncertain` or `bad`); a reading
 *   without a value contributes only its quality. Tag names are lowerCamelCase, so `_quality` never collides.
 *
 * Timestream rejects a second record with the same identity and different measures, or replaces the stored one
 * when the second's version is higher. The edge agent keeps the readings of one machine and timestamp in one batch
 * as far as it can (they come from different OPC UA subscriptions, so one may arrive later than the agent waits),
 * and the `tag_set` dimension makes the part of a timestamp that came in another batch a record of its own instead
 * of a conflict or a silent replacement: the same readings always give the same records, however they were
 * batched, and none is lost. Queries aggregate over the dimension (it is never grouped by); `raw` may return two
 * rows for one machine and timestamp, each with the tags it carries.
 */
import * as t from "io-ts";
import { closed, EpochMillis, refinedString, text } from "../codecs/primitives";

/** The table of a factory's telemetry in its Timestream database. */
export const TELEMETRY_TABLE = "telemetry";

/** Dimension names, in the order records carry them. */
export const TELEMETRY_DIMENSIONS = ["factory", "line", "machine_type", "machine", "tag_set"] as const;

/**
 * The `tag_set` dimension of a record carrying `tags`: 8 hex digits of the 32-bit FNV-1a hash of the sorted tag
 * names joined by commas. A function of the tags alone, so a redelivered batch gives the same records.
 *
 * @example tagSetOf(["vibration", "motorTemperature"]) === tagSetOf(["motorTemperature", "vibration"])
 */
export function tagSetOf(tags: readonly string[]): string {
  let hash = 0x811c9dc5;
  for (const ch of [...tags].sort().join(",")) {
    hash ^= ch.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
/** The name of one dimension of a telemetry record. */
export type TelemetryDimension = (typeof TELEMETRY_DIMENSIONS)[number];

/** Measure name of every telemetry record. */
export const TELEMETRY_MEASURE_NAME = "telemetry";

/** Suffix of the VARCHAR measure that marks a tag's reading as `uncertain` or `bad`. */
export const QUALITY_MEASURE_SUFFIX = "_quality";

/** Name of the measure holding a tag's quality when it is not good. */
export function qualityMeasureName(tag: string): string {
  return `${tag}${QUALITY_MEASURE_SUFFIX}`;
}

/**
 * What the telemetry topic rule hands the enrichment Lambda: IoT Core passes a binary payload to a Lambda only as
 * base64 text, and the origin comes from the connection and topic, never from the payload.
 */
export const TelemetryRuleEvent = closed("a telemetry rule event", {
  /** The message exactly as published, base64-encoded by the rule (`encode(*, 'base64')`). */
  payload: refinedString<string>("base64 text", (s) => s.length > 0 && s.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s)),
  /** `topic()`: the plain topic, without the Basic Ingest prefix. */
  topic: text(256),
  /** `clientid()`: the MQTT client id of the publishing connection. */
  clientId: text(128),
  /** `timestamp()`: when IoT Core received the message. */
  receivedAt: EpochMillis,
});
export type TelemetryRuleEvent = t.TypeOf<typeof TelemetryRuleEvent>;

/** The SELECT clause of the telemetry rule that produces a {@link TelemetryRuleEvent}. */
export const TELEMETRY_RULE_SELECT = "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt";
