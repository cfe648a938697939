/**
 * The feature vector of the predictive-maintenance (failure-risk) model, one definition for everything that builds
 * it: the Timestream scheduled query and the training set of the Pulumi program's pipeline, and the detector Lambda
 * that scores each machine's completed hour on the model's endpoint.
 *
 * One row per machine and UTC hour, its columns in {@link trainingColumns} order:
 *
 * - for each feature tag ({@link featureTags}) the average, sample standard deviation, minimum and maximum of the
 *   tag's values in the hour, in the telemetry table's (canonical, SI) unit: Timestream's `AVG`, `STDDEV` (the
 *   sample standard deviation, missing for fewer than two values), `MIN` and `MAX` over the tag's column, which
 *   holds the value of every reading that has one, whatever its quality; missing when the hour has no value of it;
 * - `samples`: the number of telemetry records of the machine in the hour (one per machine and timestamp);
 * - `fault_seconds`, `fault_entries`: the time in fault within the hour and the transitions into fault in it, from
 *   the machine's state (a state holds until the next state event);
 * - `bad_readings`: the readings of the hour, of any tag, whose quality is `bad`;
 * - the machine type, one-hot (`1` for the machine's type, `0` for the others).
 *
 * A row is one CSV line ({@link featureRow}): numbers as JavaScript writes them, an empty field for a missing
 * value, as the training CSV has it (XGBoost reads an empty field as missing).
 */
import type { FactoryConfig } from "../codecs/config";
import { canonicalUnitOf, quantityOf, type Quantity } from "../units";

// ---------------------------------------------------------------------------------------------- columns

/** Statistics of each feature tag per machine and hour, in column order. */
export const FEATURE_STATISTICS = ["avg", "stddev", "min", "max"] as const;

/** One of {@link FEATURE_STATISTICS}. */
export type FeatureStatistic = (typeof FEATURE_STATISTICS)[number];

/** Timestream's limit of measures in one multi-measure record (the scheduled query writes a row as one record). */
export const MAX_RECORD_MEASURES = 256;

/** Units in which vibration velocity is reported (ISO 20816 severity is in mm/s or in/s); m/min, km/h are line speeds. */
export const VIBRATION_VELOCITY_UNITS: ReadonlySet<string> = new Set(["mm/s", "in/s"]);

/** A tag whose hourly statistics are features: its name, quantity, and the machine types that have it. */
export interface FeatureTag {
  /** The tag's name, which is also its telemetry column. */
  readonly name: string;
  /** The quantity it measures. */
  readonly quantity: Quantity;
  /** Canonical (SI) unit the telemetry table stores it in. */
  readonly unit: string;
  /** The machine types that have the tag, in config order. */
  readonly machineTypes: readonly string[];
}

/**
 * The tags that precede failures of rotating and heated equipment: every tag of a temperature or an acceleration
 * (vibration acceleration), and velocity tags reported in a vibration-velocity unit or named like vibration (a
 * belt speed in m/min is a velocity too, and no health signal). Tags of the same name on several machine types
 * share one telemetry column, hence one feature. In config order (types, then their tags).
 */
export function featureTags(config: FactoryConfig): FeatureTag[] {
  const byName = new Map<string, { quantity: Quantity; unit: string; machineTypes: string[] }>();
  for (const type of config.machineTypes) {
    for (const tag of type.tags) {
      const quantity = quantityOf(tag.unit);
      const vibration = quantity === "acceleration" || (quantity === "velocity" && (VIBRATION_VELOCITY_UNITS.has(tag.unit) || /vib/i.test(tag.name)));
      if (quantity !== "temperature" && !vibration) continue;
      const seen = byName.get(tag.name);
      if (seen === undefined) byName.set(tag.name, { quantity, unit: canonicalUnitOf(tag.unit), machineTypes: [type.id] });
      else if (!seen.machineTypes.includes(type.id)) seen.machineTypes.push(type.id);
    }
  }
  return [...byName].map(([name, t]) => ({ name, ...t }));
}

/** Name of the column holding one statistic of a tag, e.g. `vibration_stddev`. */
export function featureColumn(tag: string, statistic: FeatureStatistic): string {
  return `${tag}_${statistic}`;
}

/** Number of telemetry records of the machine in the hour (a drop means a silent machine or sensor). */
export const SAMPLES_COLUMN = "samples";

/**
 * The measures of a features record, in order: each feature tag's statistics, then the sample count.
 *
 * @throws Error when they are more than a Timestream record holds ({@link MAX_RECORD_MEASURES}).
 */
export function featureColumns(tags: readonly FeatureTag[]): string[] {
  const columns = [...tags.flatMap((t) => FEATURE_STATISTICS.map((s) => featureColumn(t.name, s))), SAMPLES_COLUMN];
  if (columns.length > MAX_RECORD_MEASURES) {
    throw new Error(`${tags.length} feature tags make ${columns.length} measures per features record: Timestream allows at most ${MAX_RECORD_MEASURES}`);
  }
  return columns;
}

/**
 * Columns computed besides the scheduled query's: the seconds in fault and the entries into fault within the
 * hour (from the machine's state), and the readings of bad quality (telemetry `<tag>_quality = 'bad'`).
 */
export const DERIVED_COLUMNS = ["fault_seconds", "fault_entries", "bad_readings"] as const;

/** One of {@link DERIVED_COLUMNS}. */
export type DerivedColumn = (typeof DERIVED_COLUMNS)[number];

/** The one-hot column of a machine type, e.g. `type_servo_press`. */
export function machineTypeColumn(typeId: string): string {
  return `type_${typeId.replace(/-/g, "_")}`;
}

/**
 * The feature vector of the model, in order (the training CSV is `label,<these>`, and a scoring request sends
 * `<these>` as one CSV line): the hourly features ({@link featureColumns}), the {@link DERIVED_COLUMNS}, and the
 * machine type, one-hot, in config order.
 */
export function trainingColumns(config: FactoryConfig): string[] {
  return [...featureColumns(featureTags(config)), ...DERIVED_COLUMNS, ...config.machineTypes.map((t) => machineTypeColumn(t.id))];
}

// ---------------------------------------------------------------------------------------------- statistics

/**
 * The statistics of one tag's values, kept value by value (a plain object: it is stored as JSON). `m2` is the sum
 * of squared deviations from the mean, updated as Welford's algorithm does (as Timestream's `STDDEV` computes
 * it), which unlike a raw sum of squares loses no precision to cancellation.
 */
export interface RunningStatistics {
  /** Number of values. */
  n: number;
  /** Their sum. */
  sum: number;
  /** Sum of squared deviations from their mean. */
  m2: number;
  /** The smallest value (meaningless while `n` is 0). */
  min: number;
  /** The largest value (meaningless while `n` is 0). */
  max: number;
}

/** Statistics of no value. */
export function emptyStatistics(): RunningStatistics {
  return { n: 0, sum: 0, m2: 0, min: 0, max: 0 };
}

/** Add a value to `s`, in place. */
export function addToStatistics(s: RunningStatistics, value: number): void {
  const before = s.n === 0 ? value : s.sum / s.n;
  s.n += 1;
  s.sum += value;
  s.m2 += (value - before) * (value - s.sum / s.n);
  s.min = s.n === 1 ? value : Math.min(s.min, value);
  s.max = s.n === 1 ? value : Math.max(s.max, value);
}

/**
 * One statistic of the values, as the scheduled query computes it, or `null` (missing, SQL NULL): every statistic
 * of no value, and the sample standard deviation of one value.
 */
export function statisticOf(s: RunningStatistics | undefined, statistic: FeatureStatistic): number | null {
  if (s === undefined || s.n === 0) return null;
  switch (statistic) {
    case "avg":
      return s.sum / s.n;
    case "stddev":
      return s.n < 2 ? null : Math.sqrt(Math.max(0, s.m2) / (s.n - 1));
    case "min":
      return s.min;
    case "max":
      return s.max;
  }
}

// ---------------------------------------------------------------------------------------------- rows

/** What a row of one machine and hour is computed from. */
export interface MachineHour {
  /** The machine's type (its one-hot column is 1). */
  readonly machineType: string;
  /** Statistics of the hour's values of each feature tag, by tag name; a tag without values may be absent. */
  readonly statistics: Readonly<Record<string, RunningStatistics>>;
  /** Telemetry records of the machine in the hour (distinct timestamps). */
  readonly samples: number;
  /** Seconds in fault within the hour. */
  readonly faultSeconds: number;
  /** Transitions into fault within the hour. */
  readonly faultEntries: number;
  /** Readings of the hour whose quality is `bad`. */
  readonly badReadings: number;
}

/**
 * The row of one machine and hour: a value (or `null`, missing) per column of {@link trainingColumns}, in order.
 *
 * @throws Error for a machine type the config does not have.
 */
export function featureVector(config: FactoryConfig, hour: MachineHour): (number | null)[] {
  if (!config.machineTypes.some((t) => t.id === hour.machineType)) {
    throw new Error(`machine type ${JSON.stringify(hour.machineType)} is not a machine type of factory ${config.factory.id}`);
  }
  const derived: Readonly<Record<DerivedColumn, number>> = { fault_seconds: hour.faultSeconds, fault_entries: hour.faultEntries, bad_readings: hour.badReadings };
  return [
    ...featureTags(config).flatMap((tag) => FEATURE_STATISTICS.map((s) => statisticOf(hour.statistics[tag.name], s))),
    hour.samples,
    ...DERIVED_COLUMNS.map((c) => derived[c]),
    ...config.machineTypes.map((t) => (t.id === hour.machineType ? 1 : 0)),
  ];
}

/**
 * A row as one CSV line (no newline): numbers as JavaScript writes them, an empty field for a missing value (and
 * for a value that is not finite), as the training CSV writes a missing value.
 */
export function featureRow(values: readonly (number | null)[]): string {
  return values.map((v) => (v === null || !Number.isFinite(v) ? "" : String(v))).join(",");
}
