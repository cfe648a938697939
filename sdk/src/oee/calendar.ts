/**
 * Shifts of the factory's calendar as UTC ranges. A shift is given in the factory's local time (`HH:MM` start and
 * end in an IANA time zone, the weekdays it starts on), while SiteWise's windows are in UTC; so a shift's range
 * is computed with the time zone rules of `Intl` (no dependency), which makes it right across daylight saving
 * changes: a night shift that spans the spring change is an hour shorter, one that spans the autumn change an
 * hour longer.
 *
 * Local times that do not exist or exist twice on the day of a change are resolved as JavaScript's `Temporal`
 * does by default ("compatible"): a time in the gap is moved forward by the gap's length (02:30 on the day the
 * clocks go from 02:00 to 03:00 is 03:30), and of a repeated time the first occurrence is taken.
 */
import type { Weekday } from "../codecs/config";
import type { CalendarShift, FactoryCalendar } from "../client/context";
import { QueryValidationError } from "../errors";

/** A calendar date `YYYY-MM-DD` (the local date a shift starts on). */
export interface LocalDate {
  readonly year: number;
  /** 1 to 12. */
  readonly month: number;
  readonly day: number;
}

/** Which shift, on which local date (the date it starts on). */
export interface ShiftQuery {
  readonly shiftId: string;
  /** The factory-local date the shift starts on, `YYYY-MM-DD`. */
  readonly date: string;
}

/** One occurrence of a shift, as a UTC range. */
export interface ShiftOccurrence {
  readonly shift: CalendarShift;
  readonly date: string;
  readonly timeZone: string;
  /** Start, epoch ms (the range is start exclusive, end inclusive, like SiteWise windows). */
  readonly from: number;
  /** End, epoch ms. */
  readonly to: number;
}

const WEEKDAY_OF_UTC_DAY: readonly Weekday[] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const formats = new Map<string, Intl.DateTimeFormat>();

/** A formatter of wall-clock fields in `timeZone`; a `QueryValidationError` for a zone `Intl` does not know. */
function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat("en-US", {
        timeZone,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch (error) {
      if (error instanceof RangeError) throw new QueryValidationError("calendar.timeZone", timeZone, "an IANA time zone such as Europe/Berlin");
      throw error;
    }
    formats.set(timeZone, format);
  }
  return format;
}

/** The offset of `timeZone` from UTC at the instant `epochMs`, in ms (east positive: Berlin in winter is +3,600,000). */
export function timeZoneOffset(epochMs: number, timeZone: string): number {
  const fields: Record<string, number> = {};
  for (const part of formatFor(timeZone).formatToParts(new Date(epochMs))) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  const wall = Date.UTC(fields.year ?? 0, (fields.month ?? 1) - 1, fields.day ?? 1, fields.hour ?? 0, fields.minute ?? 0, fields.second ?? 0);
  return wall - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The instant (epoch ms) of a wall-clock time in `timeZone`. Offsets are taken a day before and after: time zone
 * rules change at most once within two days, so one of the two is the offset in force, or, on the day of a
 * change, both are candidates. A time that exists twice gets the earlier instant; one in a gap is moved
 * forward by the gap (Temporal's "compatible").
 */
export function zonedTimeToUtc(date: LocalDate, minutesOfDay: number, timeZone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutesOfDay * MINUTE;
  const before = timeZoneOffset(wall - DAY, timeZone);
  const after = timeZoneOffset(wall + DAY, timeZone);
  const valid = [...new Set([before, after])].map((offset) => wall - offset).filter((utc) => timeZoneOffset(utc, timeZone) === wall - utc);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap (clocks jumped forward): the offset before the change, which lands after the gap.
  return wall - before;
}

/** Parses `YYYY-MM-DD` (a real calendar date) or throws a `QueryValidationError` naming `field`. */
export function parseLocalDate(text: string, field = "date"): LocalDate {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const fail = (): never => {
    throw new QueryValidationError(field, text, "a date YYYY-MM-DD");
  };
  if (match === null) return fail();
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return fail();
  return { year, month, day };
}

function minutesOf(time: string, field: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time);
  if (match === null) throw new QueryValidationError(field, time, "a time of day HH:MM from 00:00 to 23:59");
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The weekday of a calendar date. */
export function weekdayOf(date: LocalDate): Weekday {
  return WEEKDAY_OF_UTC_DAY[new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay()] as Weekday;
}

function nextDay(date: LocalDate): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day) + DAY);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/**
 * The UTC range of a shift that starts on a local date. A shift whose end is not after its start ends the next
 * day. Throws a `QueryValidationError` when there is no calendar, the shift is unknown, the date is malformed or
 * the shift does not start on that weekday.
 */
export function shiftRange(calendar: FactoryCalendar | undefined, query: ShiftQuery): ShiftOccurrence {
  if (calendar === undefined) {
    throw new QueryValidationError("calendar", undefined, "a factory calendar (time zone and shifts) in the query context to resolve shifts");
  }
  const shift = calendar.shifts.find((s) => s.id === query.shiftId);
  if (shift === undefined) {
    const known = calendar.shifts.map((s) => s.id);
    throw new QueryValidationError("shiftId", query.shiftId, known.length === 0 ? "a shift of the calendar (it has none)" : `one of the calendar's shifts: ${known.join(", ")}`);
  }
  const date = parseLocalDate(query.date);
  const weekday = weekdayOf(date);
  if (!shift.days.includes(weekday)) {
    throw new QueryValidationError("date", query.date, `a day shift ${shift.id} starts on (${shift.days.join(", ")}); ${query.date} is a ${weekday}`);
  }
  const start = minutesOf(shift.start, `shifts.${shift.id}.start`);
  const end = minutesOf(shift.end, `shifts.${shift.id}.end`);
  const from = zonedTimeToUtc(date, start, calendar.timeZone);
  const to = zonedTimeToUtc(end > start ? date : nextDay(date), end, calendar.timeZone);
  return { shift, date: query.date, timeZone: calendar.timeZone, from, to };
}
