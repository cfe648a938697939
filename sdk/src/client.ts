/**
 * The SDK's entry point for queries: one client per factory, with the three query families (asset models, OEE,
 * telemetry) built on the same AWS SDK clients. Callers may pass their own `IoTSiteWiseClient` and
 * `TimestreamQueryClient` (their region, credentials, retry settings, or mocks in tests); otherwise the SDK makes
 * them with adaptive retries, so throttling is absorbed by the AWS SDK and surfaces as `ThrottledError` only after
 * its retries are spent. There are no retry loops of our own on top.
 */
import { IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";
import { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import { FactoryId } from "./codecs/primitives";
import type { FactoryCalendar, QueryContext } from "./client/context";
import { QueryValidationError } from "./errors";
import { createAssetQueries, type AssetQueries } from "./assets/queries";
import { createOeeQueries, type OeeQueries } from "./oee/queries";
import { createTelemetryQueries, type TelemetryQueries } from "./telemetry/queries";
import { TELEMETRY_TABLE } from "./telemetry/model";

/** Attempts the SDK's own AWS clients make per call (the first try included) before giving up. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** How to build a {@link FactoryClient}. */
export interface FactoryClientOptions {
  /** The factory (`factory-a`...): the prefix of its assets, models and Timestream database. */
  readonly factoryId: string;
  /** AWS region of the factory, for the clients the SDK makes (default: the AWS SDK's own resolution). */
  readonly region?: string;
  /** A SiteWise client of the caller's; the SDK then uses it as it is. */
  readonly sitewise?: IoTSiteWiseClient;
  /** A Timestream query client of the caller's. */
  readonly timestream?: TimestreamQueryClient;
  /** Timestream database (default `<factory>-telemetry`, as the Pulumi program names it). */
  readonly database?: string;
  /** Timestream table (default `telemetry`). */
  readonly table?: string;
  /** The factory's time zone and shifts, for `oee.forShift` (the stack config's `smart-factory:factory`). */
  readonly calendar?: FactoryCalendar;
  /** Attempts per call of the clients the SDK makes (default {@link DEFAULT_MAX_ATTEMPTS}). */
  readonly maxAttempts?: number;
}

/** A factory's query client. */
export interface FactoryClient {
  readonly factoryId: FactoryId;
  /** The SiteWise client the queries use (the caller's, or the one the SDK made). */
  readonly sitewise: IoTSiteWiseClient;
  /** The Timestream query client the queries use. */
  readonly timestream: TimestreamQueryClient;
  /** Asset models and the factory > line > machine hierarchy. */
  readonly assets: AssetQueries;
  /** Current, historical and range OEE, and the local computation. */
  readonly oee: OeeQueries;
  /** Latest values, binned aggregates and raw ranges from Timestream. */
  readonly telemetry: TelemetryQueries;
  /** Releases the AWS clients the SDK made (not the caller's own). */
  destroy(): void;
}

/**
 * A query client for one factory.
 *
 * @throws QueryValidationError when `factoryId` is not a factory id, or `maxAttempts` not a whole number from 1.
 * @example
 * const client = createFactoryClient({ factoryId: "factory-a", region: "eu-central-1" });
 * const [line2] = await client.oee.current([await client.assets.line("press-line-2")]);
 */
export function createFactoryClient(options: FactoryClientOptions): FactoryClient {
  if (!FactoryId.is(options.factoryId)) throw new QueryValidationError("factoryId", options.factoryId, FactoryId.name);
  const factoryId = options.factoryId;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new QueryValidationError("maxAttempts", options.maxAttempts, "a whole number of attempts from 1");
  const common = { ...(options.region === undefined ? {} : { region: options.region }), maxAttempts, retryMode: "adaptive" };
  const sitewise = options.sitewise ?? new IoTSiteWiseClient(common);
  const timestream = options.timestream ?? new TimestreamQueryClient(common);
  const ctx: QueryContext = {
    factoryId,
    sitewise,
    timestream,
    database: options.database ?? `${factoryId}-telemetry`,
    table: options.table ?? TELEMETRY_TABLE,
    ...(options.calendar === undefined ? {} : { calendar: options.calendar }),
    now: Date.now,
  };
  const assets = createAssetQueries(ctx);
  return {
    factoryId,
    sitewise,
    timestream,
    assets,
    oee: createOeeQueries(ctx, assets),
    telemetry: createTelemetryQueries(ctx),
    destroy(): void {
      if (options.sitewise === undefined) sitewise.destroy();
      if (options.timestream === undefined) timestream.destroy();
    },
  };
}
