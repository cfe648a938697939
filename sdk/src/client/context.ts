/**
 * What every query family of the client shares: the factory it is for, the AWS SDK clients it calls (the
 * caller's own, or ones the SDK made), and where the factory's telemetry lives.
 */
import type { IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";
import type { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import type { Weekday } from "../codecs/config";
import type { FactoryId } from "../codecs/primitives";

/** A shift of the factory's calendar, as in the stack config (`smart-factory:factory.shifts`). */
export interface CalendarShift {
  readonly id: string;
  readonly name?: string;
  /** Local start time `HH:MM`. */
  readonly start: string;
  /** Local end time `HH:MM`; not after `start` means the shift ends the next day. */
  readonly end: string;
  /** Days the shift starts on. */
  readonly days: readonly Weekday[];
}

/** The factory's working calendar: its IANA time zone and shifts. */
export interface FactoryCalendar {
  readonly timeZone: string;
  readonly shifts: readonly CalendarShift[];
}

/** The context the query families are built from. */
export interface QueryContext {
  readonly factoryId: FactoryId;
  readonly sitewise: IoTSiteWiseClient;
  readonly timestream: TimestreamQueryClient;
  /** Timestream database, by default `<factory>-telemetry`. */
  readonly database: string;
  /** Timestream table, by default `telemetry`. */
  readonly table: string;
  /** The factory's calendar, for shift ranges; absent if the caller gave none. */
  readonly calendar?: FactoryCalendar;
  /** The clock, for "now" (tests replace it). */
  readonly now: () => number;
}
