/**
 * The hourly machine features in the data lake: the rows of the Timestream features table (`machine_features`,
 * written by the predictive-maintenance scheduled query) exported once an hour to the lake bucket, so that Athena
 * joins them with the readings and the state events, and BI and ML read one place.
 *
 * The objects are gzip'd JSON lines, one object per line and hour at
 * `features/factory=<f>/line=<l>/dt=<yyyy-MM-dd>/<yyyy-MM-dd>T<HH>.json.gz`: the key is a function of the hour, so
 * exporting an hour again (a retry, a redrive, a backfill) replaces the object instead of adding duplicates.
 * JSON rather than Parquet: a factory's features are a few hundred rows an hour, and the Lambda stays free of a
 * Parquet writer. `factory`, `line` and `dt` are partition keys (read from the key), not columns.
 */
import type { FactoryConfig } from "../codecs/config";
import type { LakeColumn } from "../telemetry/lake";
import { lakeDate } from "../telemetry/lake";
import { FEATURE_STATISTICS, featureColumn, featureColumns, featureTags, SAMPLES_COLUMN } from "./features";

/** The Glue table of the hourly features in a factory's lake database. */
export const LAKE_FEATURES_TABLE = "machine_features";

/** Where the features are in the lake bucket; Hive-style partitions (`factory=`, `line=`, `dt=`) follow. */
export const LAKE_FEATURES_PREFIX = "features/";

/** The columns every features row has before its feature columns. */
export const LAKE_FEATURE_KEY_COLUMNS: readonly LakeColumn[] = [
  { name: "machine_type", type: "string", comment: "machine type id" },
  { name: "machine", type: "string", comment: "machine id" },
  { name: "hour", type: "timestamp", comment: "start of the hour the row summarizes, UTC" },
  { name: SAMPLES_COLUMN, type: "bigint", comment: "telemetry records of the machine in the hour" },
];

const STATISTIC_WORDS = { avg: "average", stddev: "standard deviation", min: "minimum", max: "maximum" } as const;

/**
 * The columns of the lake's features table for `config`: the key columns, then each feature in the order of the
 * features table (a double in the tag's SI unit, null when the hour had no value).
 */
export function lakeFeatureColumns(config: FactoryConfig): LakeColumn[] {
  const tags = featureTags(config);
  featureColumns(tags); // refuses more features than a record holds
  return [
    ...LAKE_FEATURE_KEY_COLUMNS,
    ...tags.flatMap((t) =>
      FEATURE_STATISTICS.map((s): LakeColumn => ({ name: featureColumn(t.name, s), type: "double", comment: `${STATISTIC_WORDS[s]} of ${t.name} over the hour, ${t.unit}` })),
    ),
  ];
}

/** One features row as the export writes it (one JSON object per line). */
export interface LakeFeatureRow {
  readonly machine_type: string;
  readonly machine: string;
  /** `yyyy-MM-dd HH:mm:ss.SSS` (UTC), the timestamp form Athena's Hive JSON SerDe reads. */
  readonly hour: string;
  readonly samples: number;
  /** The feature columns of {@link lakeFeatureColumns}, `null` for an hour without a value. */
  readonly [feature: string]: string | number | null;
}

/** `epochMs` as the lake's JSON timestamps write it: `2026-11-25 08:00:00.000` (UTC). */
export function lakeTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace("T", " ").replace("Z", "");
}

/** The start of the UTC hour `epochMs` falls in. */
export function hourStart(epochMs: number): number {
  return Math.floor(epochMs / 3_600_000) * 3_600_000;
}

/**
 * The key of the features object of `line` for the hour starting at `hour` (epoch milliseconds, a whole hour).
 *
 * @throws RangeError when `hour` is not the start of an hour.
 */
export function lakeFeaturesKey(factoryId: string, lineId: string, hour: number): string {
  if (hourStart(hour) !== hour) throw new RangeError(`hour ${new Date(hour).toISOString()} is not the start of an hour`);
  const day = lakeDate(hour);
  const hh = new Date(hour).toISOString().slice(11, 13);
  return `${LAKE_FEATURES_PREFIX}factory=${factoryId}/line=${lineId}/dt=${day}/${day}T${hh}.json.gz`;
}
