/** The envelope a gateway publishes its readings in. Its compact wire encoding is in `wire/batchEncoding`. */
import * as t from "io-ts";
import { closed, EpochMillis, FactoryId, GatewayId, NonNegativeInteger } from "./primitives";
import { Reading } from "./reading";

/** Version of the batch schema this SDK writes; decoders reject any other. */
export const TELEMETRY_BATCH_SCHEMA_VERSION = 1;

/**
 * A batch of readings from one gateway. `sequence` increases by one for every message the gateway publishes and
 * survives restarts (it is stored with the buffer), so the cloud can tell a duplicate or a gap. `sentAt` is the
 * gateway's clock when it built the batch; readings carry their own times.
 */
export const TelemetryBatch = closed("a telemetry batch", {
  schemaVersion: t.literal(TELEMETRY_BATCH_SCHEMA_VERSION, `schema version ${TELEMETRY_BATCH_SCHEMA_VERSION}`),
  factoryId: FactoryId,
  gatewayId: GatewayId,
  sequence: NonNegativeInteger,
  sentAt: EpochMillis,
  readings: t.array(Reading, "a list of readings"),
});
export type TelemetryBatch = t.TypeOf<typeof TelemetryBatch>;
