/**
 * The SDK's queries against mocked AWS clients: how many API calls the current OEE of 500 machines (4 ratio
 * properties each, 2,000 entries) takes against the minimum the API allows, ceil(2000 / 128) = 16; and how many
 * Timestream rows per second the row decoder turns into typed objects. No AWS call is made.
 */
import { BatchGetAssetPropertyValueCommand, IoTSiteWiseClient, type BatchGetAssetPropertyValueEntry } from "@aws-sdk/client-iotsitewise";
import { TimestreamQueryClient, type ColumnInfo, type Row } from "@aws-sdk/client-timestream-query";
import { createFactoryClient, decodeRows, type MachineRef } from "@smart-factory/sdk";
import { mockClient } from "aws-sdk-client-mock";
import { rate, type BenchResult } from "./lib";

const MACHINES = 500;
const RATIOS = ["availability", "performance", "quality", "oee"] as const;
const ENTRIES_PER_CALL = 128;

async function currentOeeCalls(): Promise<{ calls: number; entries: number; answered: number }> {
  const sitewise = mockClient(IoTSiteWiseClient);
  try {
    const end = Math.floor(Date.UTC(2026, 10, 23, 7) / 1000);
    sitewise.on(BatchGetAssetPropertyValueCommand).callsFake((input: { entries: BatchGetAssetPropertyValueEntry[] }) => ({
      successEntries: input.entries.map((e) => ({ entryId: e.entryId, assetPropertyValue: { value: { doubleValue: 0.5 }, timestamp: { timeInSeconds: end, offsetInNanos: 0 }, quality: "GOOD" } })),
      errorEntries: [],
      skippedEntries: [],
    }));
    const client = createFactoryClient({ factoryId: "factory-a", sitewise: new IoTSiteWiseClient({ region: "eu-central-1" }), timestream: new TimestreamQueryClient({ region: "eu-central-1" }) });
    const machines: MachineRef[] = Array.from({ length: MACHINES }, (_, i) => ({
      level: "machine",
      assetId: `asset-${i}`,
      name: `factory-a/line-${Math.floor(i / 50)}/m-${i}`,
      modelId: "model-1",
      modelKey: "machine-servo-press",
      lineId: `line-${Math.floor(i / 50)}`,
      machineId: `m-${i}`,
      properties: Object.fromEntries(RATIOS.map((p) => [p, `${p}-${i}`])),
    }));
    const current = await client.oee.current(machines);
    const calls = sitewise.commandCalls(BatchGetAssetPropertyValueCommand);
    return { calls: calls.length, entries: calls.reduce((n, c) => n + (c.args[0].input.entries?.length ?? 0), 0), answered: current.filter((c) => c.ratios.oee !== undefined).length };
  } finally {
    sitewise.restore();
  }
}

/** A page of binned telemetry as Timestream returns it: machine, bin, count, avg, min, max, p95. */
function binnedPage(rows: number): { columns: ColumnInfo[]; rows: Row[] } {
  const scalar = (Name: string, ScalarType: "VARCHAR" | "TIMESTAMP" | "BIGINT" | "DOUBLE"): ColumnInfo => ({ Name, Type: { ScalarType } });
  const columns = [scalar("machine", "VARCHAR"), scalar("binStart", "TIMESTAMP"), scalar("t_count", "BIGINT"), scalar("t_avg", "DOUBLE"), scalar("t_min", "DOUBLE"), scalar("t_max", "DOUBLE"), scalar("t_p95", "DOUBLE")];
  const data: Row[] = Array.from({ length: rows }, (_, i) => ({
    Data: [
      { ScalarValue: `press-${String(i % 24).padStart(2, "0")}` },
      { ScalarValue: `2026-11-23 ${String(Math.floor(i / 12) % 24).padStart(2, "0")}:${String((i % 12) * 5).padStart(2, "0")}:00.000000000` },
      { ScalarValue: String(300 + (i % 7)) },
      { ScalarValue: (41.5 + (i % 13) / 10).toFixed(3) },
      i % 50 === 0 ? { NullValue: true } : { ScalarValue: "38.125" },
      { ScalarValue: "47.75" },
      { ScalarValue: "46.5" },
    ],
  }));
  return { columns, rows: data };
}

export async function run(): Promise<BenchResult> {
  const oee = await currentOeeCalls();
  const page = binnedPage(1000);
  const rowsPerSecond = page.rows.length * rate(() => decodeRows(page.columns, page.rows));
  return {
    name: "sdk",
    figures: {
      currentOeeMachines: MACHINES,
      currentOeeEntries: oee.entries,
      currentOeeCalls: oee.calls,
      currentOeeMinimumCalls: Math.ceil((MACHINES * RATIOS.length) / ENTRIES_PER_CALL),
      currentOeeMachinesAnswered: oee.answered,
      timestreamRowsDecodedPerSecond: rowsPerSecond,
    },
    notes: `current OEE of ${MACHINES} machines x ${RATIOS.length} ratio properties through BatchGetAssetPropertyValue (128 entries a call) against a mocked SiteWise; rows/s decodes pages of 1000 binned rows (7 columns: VARCHAR, TIMESTAMP, BIGINT, 4 DOUBLE, some NULL) into typed objects`,
  };
}
