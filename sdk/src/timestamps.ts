/**
 * The timestamp policy. A reading carries the time the PLC stamped it (the OPC UA source timestamp) whenever
 * there is one; the server's timestamp is a fallback, the gateway's receive time the last resort, and the
 * reading says which clock it used. A timestamp too far ahead of the receiver's clock (a PLC with a wrong
 * clock) or older than the stores accept is rejected as skewed: such a reading becomes a dead letter with the
 * reason, it is not silently rewritten.
 */
import type { TelemetrySettings } from "./codecs/config";
import type { Clock } from "./codecs/reading";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/** IoT SiteWise accepts values at most 7 days old and 10 minutes ahead of its clock. */
export const SITEWISE_BOUNDS: TimestampBounds = { maxAgeMs: 7 * DAY, maxFutureMs: 10 * MINUTE };

/** How far ahead a reading's time may be when the stack config does not say. */
export const DEFAULT_MAX_FUTURE_SKEW_SECONDS = 300;

/** How old and how far in the future a timestamp may be, relative to the clock of whoever checks it. */
export interface TimestampBounds {
  readonly maxAgeMs: number;
  readonly maxFutureMs: number;
}

/**
 * Bounds for telemetry readings: no older than Timestream's magnetic-store retention (magnetic-store writes
 * take records older than the memory store), no further ahead than the configured skew.
 */
export function readingBounds(telemetry: TelemetrySettings): TimestampBounds {
  return {
    maxAgeMs: telemetry.magneticStoreRetentionDays * DAY,
    maxFutureMs: (telemetry.maxFutureSkewSeconds ?? DEFAULT_MAX_FUTURE_SKEW_SECONDS) * SECOND,
  };
}

/** Bounds for machine state events: those of readings, narrowed to what SiteWise accepts. */
export function stateEventBounds(telemetry: TelemetrySettings): TimestampBounds {
  const reading = readingBounds(telemetry);
  return {
    maxAgeMs: Math.min(reading.maxAgeMs, SITEWISE_BOUNDS.maxAgeMs),
    maxFutureMs: Math.min(reading.maxFutureMs, SITEWISE_BOUNDS.maxFutureMs),
  };
}

/** Outcome of {@link checkTimestamp}. */
export type TimestampVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "future" | "tooOld"; readonly message: string };

/** Whether `timestamp` (epoch ms) is within `bounds` of `now` (epoch ms); the message gives both times. */
export function checkTimestamp(timestamp: number, now: number, bounds: TimestampBounds): TimestampVerdict {
  if (timestamp > now + bounds.maxFutureMs) {
    return {
      ok: false,
      reason: "future",
      message: `timestamp ${iso(timestamp)} is ${formatDuration(timestamp - now)} ahead of ${iso(now)} (at most ${formatDuration(bounds.maxFutureMs)} allowed)`,
    };
  }
  if (timestamp < now - bounds.maxAgeMs) {
    return {
      ok: false,
      reason: "tooOld",
      message: `timestamp ${iso(timestamp)} is ${formatDuration(now - timestamp)} old at ${iso(now)} (at most ${formatDuration(bounds.maxAgeMs)} accepted)`,
    };
  }
  return { ok: true };
}

/** The earliest time any clock of ours can mean: OPC UA sends 1601-01-01 (or nothing) for "no timestamp". */
const NO_TIME_BEFORE = Date.UTC(2000, 0, 1);

/** The clocks a value may come with; `received` is the gateway's own time of receipt. */
export interface ClockSources {
  readonly source?: Date | number | null;
  readonly server?: Date | number | null;
  readonly received: Date | number;
}

/** Pick a reading's timestamp by the policy: source, else server, else the gateway's receive time. */
export function pickTimestamp(sources: ClockSources): { timestamp: number; clock: Clock } {
  const source = usable(sources.source);
  if (source !== undefined) return { timestamp: source, clock: "source" };
  const server = usable(sources.server);
  if (server !== undefined) return { timestamp: server, clock: "server" };
  return { timestamp: Math.floor(toMillis(sources.received)), clock: "gateway" };
}

function usable(time: Date | number | null | undefined): number | undefined {
  if (time === null || time === undefined) return undefined;
  const ms = toMillis(time);
  return Number.isFinite(ms) && ms >= NO_TIME_BEFORE ? Math.floor(ms) : undefined;
}

function toMillis(time: Date | number): number {
  return typeof time === "number" ? time : time.getTime();
}

function iso(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/** `3d 4h`, `12m 5s`, `250ms`: the two largest units of a duration. */
export function formatDuration(ms: number): string {
  if (ms < SECOND) return `${Math.round(ms)}ms`;
  const parts: [number, string][] = [
    [Math.floor(ms / DAY), "d"],
    [Math.floor((ms % DAY) / (60 * MINUTE)), "h"],
    [Math.floor((ms % (60 * MINUTE)) / MINUTE), "m"],
    [Math.floor((ms % MINUTE) / SECOND), "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join(" ");
}
