/**
 * How the views write figures: the terminal view uses these, and the web page's script repeats the same few rules in
 * plain JavaScript (it runs in the browser, without a bundler); the browser test checks that the two agree.
 */

/** What the views show for "no data" (a `null` ratio: its denominator was zero). */
export const NO_DATA = "—";

/** A ratio in [0, 1] as a percentage with one decimal (`0.7234` -> `72.3%`); {@link NO_DATA} for `null`. */
export function formatPercent(ratio: number | null): string {
  // A non-finite ratio can only come from a bug upstream; showing "NaN%" would read as a figure, so it reads as no data.
  if (ratio === null || !Number.isFinite(ratio)) return NO_DATA;
  return `${(ratio * 100).toFixed(1)}%`;
}

/** A count with thousands separators (`12345` -> `12,345`), independent of the process's locale. */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return NO_DATA;
  const sign = value < 0 ? "-" : "";
  const [whole = "0", fraction] = Math.abs(value).toString().split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? sign + grouped : `${sign + grouped}.${fraction}`;
}

/** A number with one decimal (`12.345` -> `12.3`); {@link NO_DATA} for `null`. */
export function formatDecimal(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return NO_DATA;
  return value.toFixed(1);
}

/** A duration in milliseconds as `hh:mm:ss` (hours grow past 24 rather than wrap: a box may run for days). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return `${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}`;
}

/** The wall-clock time of `epochMs` as `hh:mm:ss` in the viewer's local time zone, the time the operator reads. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** The uplink as the views write it: `up`, or `DOWN until hh:mm:ss` (`DOWN` alone when the end is unknown). */
export function formatUplink(uplink: { readonly up: boolean; readonly downUntil: number | null }): string {
  if (uplink.up) return "up";
  return uplink.downUntil === null ? "DOWN" : `DOWN until ${formatClock(uplink.downUntil)}`;
}

function pad2(n: number): string {
  return n.toString().padStart(2, "0");
}
