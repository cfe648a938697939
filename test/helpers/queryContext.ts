/** The query context the SDK's query tests run with: factory A, clients in eu-central-1 (mocked by the tests). */
import { IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";
import { TimestreamQueryClient } from "@aws-sdk/client-timestream-query";
import type { FactoryId, QueryContext } from "@smart-factory/sdk";

/** A context for factory A whose clock reads `now`; `overrides` replace any field (also with invalid values). */
export function testQueryContext(now: number, overrides: Partial<Record<keyof QueryContext, unknown>> = {}): QueryContext {
  // static credentials: the mocked clients never sign for real, and the machine's own are never looked up
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
  return {
    factoryId: "factory-a" as FactoryId,
    sitewise: new IoTSiteWiseClient({ region: "eu-central-1", credentials }),
    timestream: new TimestreamQueryClient({ region: "eu-central-1", credentials }),
    database: "factory-a-telemetry",
    table: "telemetry",
    now: () => now,
    ...(overrides as Partial<QueryContext>),
  };
}
