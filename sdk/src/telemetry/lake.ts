/**
 * The data lake's model: the enriched readings as the enrichment Lambda sends them to Firehose and as the Glue
 * table (`readings` of the factory's lake database) describes them for Athena. It does the job of AWS IoT
 * Analytics' datastore (retired): every accepted reading, converted to its canonical SI unit, in Parquet files
 * partitioned by factory, line and day.
 *
 * Long ("tidy") format, one row per reading, rather than one wide row per machine and timestamp as in Timestream:
 * machine types have different tags, so a wide table would need a column per tag of every type (and a schema
 * change for each new tag), while the long table's schema never changes, a tag's unit and quality sit beside its
 * value, and per-tag aggregation (`GROUP BY tag`) is what ML features and BI need.
 *
 * `factory` and `line` are partition keys, not columns: a Hive table cannot hold a column and a partition key of
 * the same name, and the values are in every object's key (`readings/factory=<f>/line=<l>/dt=<yyyy-MM-dd>/`),
 * from which Athena reads them like columns.
 *
 * Beside the readings, the table `states` holds the machine state events (`states/factory=/line=/dt=/`), which the
 * state topic rule sends to Firehose with the fields of {@link LAKE_STATE_RULE_FIELDS} added to the message: the
 * input of downtime per state and shift, which telemetry alone cannot tell.
 */
import type { FactoryId } from "../codecs/primitives";
import type { Quality } from "../codecs/reading";
import { STATE_CODES, stateOfCode, type MachineState, type SiteWiseStateMessage } from "../codecs/state";
import { checkName, TOPIC_LEVELS } from "../names";

/**
 * The Glue (Athena) database of a factory's lake: `<factory id with _ for ->_lake`. Athena reads database names of
 * lower-case letters, digits and underscores without quoting, and the Glue catalog is account-wide, so the name
 * starts with the factory; ids have no underscores, so the mapping is one-to-one.
 *
 * @example lakeDatabaseName("factory-a") // "factory_a_lake"
 */
export function lakeDatabaseName(factoryId: FactoryId): string {
  return checkName("glueDatabase", `${factoryId.replace(/-/g, "_")}_lake`);
}

/** The Glue table of the enriched readings in a factory's lake database. */
export const LAKE_TABLE = "readings";

/** Where the readings are in the lake bucket; Hive-style partitions (`factory=`, `line=`, `dt=`) follow. */
export const LAKE_READINGS_PREFIX = "readings/";

/** A column of a lake table, with its Hive type. */
export interface LakeColumn {
  readonly name: string;
  readonly type: "string" | "timestamp" | "double" | "int" | "bigint";
  readonly comment: string;
}

/** The columns of the Parquet files, in order. */
export const LAKE_COLUMNS: readonly LakeColumn[] = [
  { name: "machine_type", type: "string", comment: "machine type id (the SiteWise asset model)" },
  { name: "machine", type: "string", comment: "machine id" },
  { name: "time", type: "timestamp", comment: "the reading's timestamp, UTC (source clock, else server, else gateway)" },
  { name: "tag", type: "string", comment: "tag name" },
  { name: "value", type: "double", comment: "value in the tag's canonical SI unit; null for a reading without value" },
  { name: "unit", type: "string", comment: "canonical SI unit of the value" },
  { name: "quality", type: "string", comment: "good, uncertain or bad" },
];

/** The partition keys of both lake tables, in the order of the object keys. */
export const LAKE_PARTITION_KEYS: readonly LakeColumn[] = [
  { name: "factory", type: "string", comment: "factory id" },
  { name: "line", type: "string", comment: "line id" },
  { name: "dt", type: "string", comment: "UTC date of the row's time, yyyy-MM-dd" },
];

/**
 * One reading as the enrichment Lambda sends it to Firehose (one JSON object per line). Firehose takes the
 * partition keys from it (`factory`, `line`, `dt`) and writes the {@link LAKE_COLUMNS} to Parquet; `time` is in
 * epoch milliseconds, which the table's JSON deserializer reads as a timestamp.
 */
export interface LakeRow {
  readonly factory: string;
  readonly line: string;
  readonly machine_type: string;
  readonly machine: string;
  /** Epoch milliseconds. */
  readonly time: number;
  readonly tag: string;
  /** In `unit`; `null` for a reading without value (its quality says why). */
  readonly value: number | null;
  readonly unit: string;
  readonly quality: Quality;
  /** The partition day of `time`, {@link lakeDate}. */
  readonly dt: string;
}

/** The partition day (`dt`) of an instant: its UTC date, `yyyy-MM-dd`. */
export function lakeDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

// ------------------------------------------------------------------------------------------- machine states

/**
 * The Glue table of the machine state events in a factory's lake database: one row per state event the state
 * topic rule received, the input of downtime per state and shift (a state holds until the machine's next event).
 */
export const LAKE_STATES_TABLE = "states";

/** Where the state events are in the lake bucket; Hive-style partitions (`factory=`, `line=`, `dt=`) follow. */
export const LAKE_STATES_PREFIX = "states/";

/** The columns of the state events' Parquet files, in order (partitions: {@link LAKE_PARTITION_KEYS}). */
export const LAKE_STATE_COLUMNS: readonly LakeColumn[] = [
  { name: "machine", type: "string", comment: "machine id (from the state topic)" },
  { name: "time", type: "timestamp", comment: "the event's timestamp, UTC (timeInSeconds and offsetInNanos of the message)" },
  { name: "state", type: "string", comment: "the state entered: running, idle, fault or plannedStop" },
  { name: "state_code", type: "int", comment: "the state's code as SiteWise stores it (idle 0, running 1, fault 2, plannedStop 3)" },
  { name: "good_increment", type: "bigint", comment: "good parts since the machine's previous event" },
  { name: "bad_increment", type: "bigint", comment: "bad parts since the machine's previous event" },
  { name: "sequence", type: "bigint", comment: "the gateway's message sequence number (orders events of the same time)" },
];

/**
 * One state event as the state topic rule sends it to Firehose: the gateway's {@link SiteWiseStateMessage}
 * (`SELECT *`) with these fields added by the rule's SQL ({@link STATE_RULE_SELECT}). Firehose takes the partition
 * keys from it and writes the {@link LAKE_STATE_COLUMNS} to Parquet (the message's own fields are not columns,
 * except `sequence`); `time` is in epoch milliseconds, which the table's JSON deserializer reads as a timestamp.
 */
export interface LakeStateRow {
  /** From the topic, like the SiteWise aliases (a gateway may publish only its own topics). */
  readonly factory: string;
  readonly line: string;
  readonly machine: string;
  /** Epoch milliseconds. */
  readonly time: number;
  readonly state: MachineState;
  readonly state_code: number;
  readonly good_increment: number;
  readonly bad_increment: number;
  /** The partition day of `time`, {@link lakeDate}. */
  readonly dt: string;
}

/** The fields the state rule adds to a message for the lake (`sequence` is the message's own). */
export type LakeStateRuleField = keyof LakeStateRow;

/** `CASE stateCode WHEN 0 THEN 'idle' ... END`: the state name of a code, as {@link STATE_CODES} defines them. */
const STATE_NAME_SQL = `CASE stateCode ${Object.entries(STATE_CODES)
  .sort(([, a], [, b]) => a - b)
  .map(([state, code]) => `WHEN ${code} THEN '${state}'`)
  .join(" ")} END`;

/**
 * The IoT SQL (version 2016-03-23) expression of each field the state rule adds, by field. Line and machine are
 * taken from the topic (`.../state/<line>/<machine>`), as the SiteWise action's aliases are; the state name is
 * computed in the rule (a CASE over {@link STATE_CODES}) because Firehose's JQ only extracts partition keys and
 * cannot add a column; `dt` is the UTC day of the event.
 */
export const LAKE_STATE_RULE_FIELDS: Readonly<Record<LakeStateRuleField, string>> = {
  factory: `topic(${TOPIC_LEVELS.factory})`,
  line: `topic(${TOPIC_LEVELS.line})`,
  machine: `topic(${TOPIC_LEVELS.machine})`,
  time: "timeInSeconds * 1000 + offsetInNanos / 1000000",
  state: STATE_NAME_SQL,
  state_code: "stateCode",
  good_increment: "goodIncrement",
  bad_increment: "badIncrement",
  dt: "parse_time('yyyy-MM-dd', timeInSeconds * 1000, 'UTC')",
};

/**
 * The SELECT of the state topic rule when the factory has a lake: the message as it is (`*`: the SiteWise action's
 * `${stateCode}`, `${timeInSeconds}` ... and the detector read it) plus the lake's fields.
 */
export const STATE_RULE_SELECT = `SELECT *, ${Object.entries(LAKE_STATE_RULE_FIELDS)
  .map(([field, expression]) => `${expression} AS ${field}`)
  .join(", ")}`;

/**
 * The fields {@link STATE_RULE_SELECT} adds to `message` published on the state topic of `topic.line` and
 * `topic.machine` (the rule's SQL, evaluated in TypeScript: what the lake receives, and what the detector checks).
 *
 * @throws RangeError for a state code that names no state (the message codec admits none).
 */
export function lakeStateRow(message: SiteWiseStateMessage, topic: { readonly factory: string; readonly line: string; readonly machine: string }): LakeStateRow {
  const state = stateOfCode(message.stateCode);
  if (state === undefined) throw new RangeError(`stateCode ${message.stateCode} names no machine state`);
  const time = message.timeInSeconds * 1000 + Math.floor(message.offsetInNanos / 1_000_000);
  return {
    factory: topic.factory,
    line: topic.line,
    machine: topic.machine,
    time,
    state,
    state_code: message.stateCode,
    good_increment: message.goodIncrement,
    bad_increment: message.badIncrement,
    dt: lakeDate(message.timeInSeconds * 1000),
  };
}
