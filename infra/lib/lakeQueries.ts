/**
 * The SQL of the data lake's Athena named queries (the job of IoT Analytics' datasets), generated from the
 * factory's config: its inventory (lines, machines, types), its shift calendar (local times, weekdays, IANA time
 * zone) and its alert settings. Pure functions, so the text is tested without mocks; Athena (engine version 3,
 * Trino SQL) runs it.
 *
 * The lake is at-least-once (a retried Lambda invocation, rule action or Firehose may deliver a row twice), so
 * every query first drops exact duplicates. Each query covers a rolling window (the last {@link LAKE_QUERY_LOOKBACK_DAYS}
 * days, UTC) and filters on the partition keys, so that Athena reads only those days of this factory.
 */
import { WEEKDAYS, type FactoryConfig, type Shift } from "@smart-factory/sdk";

/** Days back from today (UTC) that the named queries cover. */
export const LAKE_QUERY_LOOKBACK_DAYS = 7;

/** A SQL string literal (single quotes doubled). */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A quoted SQL identifier (double quotes doubled). */
export function sqlIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Where the lake table is. */
export interface LakeTableRef {
  readonly factoryId: string;
  readonly database: string;
  readonly table: string;
  readonly lookbackDays?: number;
}

function tableOf(ref: LakeTableRef): string {
  return `${sqlIdentifier(ref.database)}.${sqlIdentifier(ref.table)}`;
}

/** The partition filter of the last `days` days (UTC dates, as the `dt` partition key holds them). */
function since(days: number): string {
  return `dt >= date_format(date_add('day', -${days}, current_date), '%Y-%m-%d')`;
}

/**
 * Cleansed readings per machine, tag and hour: good-quality readings with a value only, exact duplicates
 * dropped, with count, mean, minimum, maximum and sample standard deviation (canonical SI units). The features
 * of the predictive-maintenance models and the BI trend charts.
 */
export function hourlyReadingsSql(ref: LakeTableRef): string {
  const days = ref.lookbackDays ?? LAKE_QUERY_LOOKBACK_DAYS;
  return `-- Cleansed readings of factory ${ref.factoryId} per machine, tag and hour (UTC), last ${days} days:
-- good quality only, readings without value left out, exact duplicates (at-least-once delivery) dropped.
WITH readings AS (
  SELECT DISTINCT factory, line, machine_type, machine, tag, unit, "time", value
  FROM ${tableOf(ref)}
  WHERE factory = ${sqlString(ref.factoryId)}
    AND ${since(days)}
    AND quality = 'good'
    AND value IS NOT NULL
)
SELECT
  factory,
  line,
  machine_type,
  machine,
  tag,
  unit,
  date_trunc('hour', "time") AS hour_start,
  count(*) AS samples,
  avg(value) AS avg_value,
  min(value) AS min_value,
  max(value) AS max_value,
  stddev_samp(value) AS stddev_value
FROM readings
GROUP BY factory, line, machine_type, machine, tag, unit, date_trunc('hour', "time")
ORDER BY hour_start, line, machine, tag
`;
}

/** The minutes after local midnight of `HH:MM`. */
function minutesOf(time: string): number {
  const [hours, minutes] = time.split(":").map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/** ISO weekday numbers (Monday 1 ... Sunday 7, as Athena's `day_of_week`) of a shift's days. */
export function isoWeekdays(shift: Pick<Shift, "days">): number[] {
  return [...new Set(shift.days.map((d) => WEEKDAYS.indexOf(d) + 1))].sort((a, b) => a - b);
}

/** What the downtime query is generated from. */
export interface ShiftDowntimeInputs extends LakeTableRef {
  readonly timeZone: string;
  readonly shifts: readonly Shift[];
  readonly machines: readonly { readonly line: string; readonly machineType: string; readonly machine: string }[];
  /**
   * How many days before the window the query also reads state events, to know the state a machine was in when
   * the first shift of the window started ({@link LAKE_STATE_CARRY_DAYS} when omitted).
   */
  readonly stateCarryDays?: number;
}

/**
 * Days before the query window whose state events are read for the states held into the window: a state entered
 * longer ago than that, and held since, is counted as unknown (a machine reports a state at least at each change
 * and each part counted, so a week without any event is a machine that was off the network).
 */
export const LAKE_STATE_CARRY_DAYS = 7;

/** The downtime query's inputs from a factory's config; `ref` names the states table. */
export function shiftDowntimeInputs(config: FactoryConfig, ref: LakeTableRef): ShiftDowntimeInputs {
  return {
    ...ref,
    timeZone: config.factory.timeZone,
    shifts: config.factory.shifts,
    machines: config.lines.flatMap((line) => line.machines.map((m) => ({ line: line.id, machineType: m.type, machine: m.id }))),
  };
}

/** Milliseconds as seconds (double). */
function seconds(ms: string): string {
  return `CAST(${ms} AS double) / 1000`;
}

/**
 * The part of the downtime query that turns state events into seconds per state, machine and shift occurrence,
 * and the final SELECT. It reads two relations the rest of the query defines:
 *
 * - `ended (shift_id, shift_name, shift_date, shift_start, shift_end)`: the shift occurrences, UTC;
 * - `events (machine, "time", sequence, state, good_increment, bad_increment)`: the machines' state events;
 *
 * and `machines (line, machine_type, machine)`. Written in SQL that Athena (Trino) and SQLite both run (with
 * `to_milliseconds`, `greatest` and `least` given to SQLite as functions over epoch milliseconds), so that its
 * arithmetic is tested on a real engine.
 *
 * A state holds from its event until the machine's next event (LEAD over time, ties by sequence); the last one
 * holds on (the shifts listed have ended, so it is cut at the shift's end). Each state interval is clipped to each
 * shift it overlaps, so a state entered before the shift and still held at its start counts from the start. Time of
 * a shift before the machine's first known event is `unknown_seconds`. Downtime is idle + fault (a planned stop is
 * not planned production time), availability run / (run + idle + fault), as the SDK's OEE counters define them.
 */
export function shiftStateSecondsSql(factoryId: string): string {
  const heldIn = (state: string): string => `sum(CASE WHEN state = ${sqlString(state)} THEN held_ms ELSE 0 END)`;
  const ms = (column: string): string => `coalesce(d.${column}, 0)`;
  const shiftMs = "to_milliseconds(o.shift_end - o.shift_start)";
  return `state_events AS (
  SELECT DISTINCT machine, "time", sequence, state, good_increment, bad_increment FROM events
),
intervals AS (
  SELECT
    machine,
    state,
    "time" AS state_start,
    lead("time") OVER (PARTITION BY machine ORDER BY "time", sequence) AS state_end
  FROM state_events
),
held AS (
  SELECT
    o.shift_id,
    o.shift_date,
    i.machine,
    i.state,
    to_milliseconds(least(coalesce(i.state_end, o.shift_end), o.shift_end) - greatest(i.state_start, o.shift_start)) AS held_ms
  FROM ended o
  JOIN intervals i ON i.state_start < o.shift_end AND (i.state_end IS NULL OR i.state_end > o.shift_start)
),
durations AS (
  SELECT
    shift_id,
    shift_date,
    machine,
    ${heldIn("running")} AS running_ms,
    ${heldIn("idle")} AS idle_ms,
    ${heldIn("fault")} AS fault_ms,
    ${heldIn("plannedStop")} AS planned_stop_ms
  FROM held
  GROUP BY shift_id, shift_date, machine
),
parts AS (
  SELECT o.shift_id, o.shift_date, e.machine, sum(e.good_increment) AS good_parts, sum(e.bad_increment) AS bad_parts
  FROM ended o
  JOIN state_events e ON e."time" > o.shift_start AND e."time" <= o.shift_end
  GROUP BY o.shift_id, o.shift_date, e.machine
)
SELECT
  ${sqlString(factoryId)} AS factory,
  m.line,
  m.machine_type,
  m.machine,
  o.shift_id,
  o.shift_name,
  o.shift_date,
  o.shift_start,
  o.shift_end,
  ${seconds(shiftMs)} AS shift_seconds,
  ${seconds(ms("running_ms"))} AS running_seconds,
  ${seconds(ms("idle_ms"))} AS idle_seconds,
  ${seconds(ms("fault_ms"))} AS fault_seconds,
  ${seconds(ms("planned_stop_ms"))} AS planned_stop_seconds,
  ${seconds(`${shiftMs} - ${ms("running_ms")} - ${ms("idle_ms")} - ${ms("fault_ms")} - ${ms("planned_stop_ms")}`)} AS unknown_seconds,
  ${seconds(`${ms("idle_ms")} + ${ms("fault_ms")}`)} AS downtime_seconds,
  CAST(${ms("running_ms")} AS double) / nullif(${ms("running_ms")} + ${ms("idle_ms")} + ${ms("fault_ms")}, 0) AS availability,
  coalesce(p.good_parts, 0) AS good_parts,
  coalesce(p.bad_parts, 0) AS bad_parts
FROM ended o
CROSS JOIN machines m
LEFT JOIN durations d ON d.shift_id = o.shift_id AND d.shift_date = o.shift_date AND d.machine = m.machine
LEFT JOIN parts p ON p.shift_id = o.shift_id AND p.shift_date = o.shift_date AND p.machine = m.machine
ORDER BY o.shift_start, m.line, m.machine
`;
}

/**
 * Downtime per machine and shift occurrence, from the machines' state events (the lake's `states` table, fed by
 * the state topic rule): seconds in running, idle, fault and planned stop, time of unknown state, downtime (idle +
 * fault), availability and the parts counted, for BI and as ML labels ({@link shiftStateSecondsSql}).
 *
 * Shifts are the config's: local start and end in the factory's time zone, the weekdays they start on, a shift
 * whose end is not after its start ending the next day. Occurrences are computed in SQL with Athena's time zone
 * rules, so they follow daylight saving changes as the SDK's `shiftRange` does (a time in the spring gap moves
 * forward, a repeated autumn time is the first). Part counts take the events in the shift, start exclusive and end
 * inclusive, like SiteWise windows. Only shifts that have ended and started on a local date in the window are
 * listed; events are read from {@link LAKE_STATE_CARRY_DAYS} days earlier, for the states held into the window.
 *
 * `undefined` when the factory has no shifts or no machines (there is nothing to report).
 */
export function shiftDowntimeSql(inputs: ShiftDowntimeInputs): string | undefined {
  if (inputs.shifts.length === 0 || inputs.machines.length === 0) return undefined;
  const days = inputs.lookbackDays ?? LAKE_QUERY_LOOKBACK_DAYS;
  const carry = inputs.stateCarryDays ?? LAKE_STATE_CARRY_DAYS;
  const zone = sqlString(inputs.timeZone);
  const shifts = inputs.shifts
    .map((s) => `    (${sqlString(s.id)}, ${sqlString(s.name)}, ${minutesOf(s.start)}, ${minutesOf(s.end)}, ARRAY[${isoWeekdays(s).join(", ")}])`)
    .join(",\n");
  const machines = inputs.machines.map((m) => `    (${sqlString(m.line)}, ${sqlString(m.machineType)}, ${sqlString(m.machine)})`).join(",\n");
  const utc = (localTimestamp: string): string => `CAST(at_timezone(with_timezone(${localTimestamp}, ${zone}), 'UTC') AS timestamp)`;
  return `-- Downtime of factory ${inputs.factoryId} per machine and shift, shifts started in the last ${days} days (${inputs.timeZone}):
-- seconds in running, idle, fault and planned stop from the machine state events (a state holds until the
-- machine's next event, clipped to the shift; one entered before the shift counts from its start), time of unknown
-- state, downtime (idle + fault) and availability; the shift calendar and the machines are the stack config's.
WITH shifts (shift_id, shift_name, start_minute, end_minute, weekdays) AS (
  VALUES
${shifts}
),
machines (line, machine_type, machine) AS (
  VALUES
${machines}
),
local_days AS (
  SELECT d FROM UNNEST(sequence(date_add('day', -${days}, current_date), current_date, INTERVAL '1' DAY)) AS t (d)
),
occurrences AS (
  SELECT
    shift_id,
    shift_name,
    d AS shift_date,
    ${utc("date_add('minute', start_minute, CAST(d AS timestamp))")} AS shift_start,
    ${utc("date_add('minute', end_minute, CAST(IF(end_minute > start_minute, d, date_add('day', 1, d)) AS timestamp))")} AS shift_end
  FROM shifts CROSS JOIN local_days
  WHERE contains(weekdays, day_of_week(d))
),
ended AS (
  SELECT * FROM occurrences WHERE shift_end <= CAST(at_timezone(current_timestamp, 'UTC') AS timestamp)
),
events AS (
  SELECT machine, "time", sequence, state, good_increment, bad_increment
  FROM ${tableOf(inputs)}
  WHERE factory = ${sqlString(inputs.factoryId)}
    AND ${since(days + 1 + carry)}
),
${shiftStateSecondsSql(inputs.factoryId)}`;
}
