/**
 * Sets the per-machine attribute values of the digital twin (each machine's ideal run rate) by property alias.
 * CloudFormation (and so the Pulumi program) can create assets but cannot set an attribute's value per asset, so
 * the program invokes this function at deploy time with the values from the stack config, and again whenever
 * they change. `BatchPutAssetPropertyValue` takes 10 entries a call; every entry that SiteWise rejects is reported,
 * and the invocation fails, so `pulumi up` fails instead of leaving a twin with wrong ideal rates.
 */
import { BatchPutAssetPropertyValueCommand, type IoTSiteWiseClient, type PutAssetPropertyValueEntry } from "@aws-sdk/client-iotsitewise";

/** One attribute value to set. */
export interface AttributeValue {
  readonly alias: string;
  readonly value: number;
}

/** The event the program invokes the function with. */
export interface SetAttributesEvent {
  readonly values: readonly AttributeValue[];
}

/** What the function reports back (visible as the invocation's result in the stack). */
export interface SetAttributesResult {
  readonly written: number;
  readonly calls: number;
}

/** Entries per `BatchPutAssetPropertyValue` call (a SiteWise limit). */
export const ENTRIES_PER_CALL = 10;

/** The values of an event, checked: every problem is named with its index, field and value. */
export function checkEvent(event: unknown): AttributeValue[] {
  const values = (event as { values?: unknown } | null)?.values;
  if (!Array.isArray(values)) throw new TypeError(`event.values: expected a list of { alias, value }, got ${JSON.stringify(values)}`);
  const problems: string[] = [];
  const seen = new Set<string>();
  values.forEach((v: unknown, i) => {
    const { alias, value } = (v ?? {}) as { alias?: unknown; value?: unknown };
    if (typeof alias !== "string" || !alias.startsWith("/")) problems.push(`values[${i}].alias: expected a property alias starting with /, got ${JSON.stringify(alias)}`);
    else if (seen.has(alias)) problems.push(`values[${i}].alias: ${alias} is given twice`);
    else seen.add(alias);
    if (typeof value !== "number" || !Number.isFinite(value)) problems.push(`values[${i}].value: expected a finite number, got ${JSON.stringify(value)}`);
  });
  if (problems.length > 0) throw new TypeError(problems.join("; "));
  return values as AttributeValue[];
}

/** The handler, with its client and clock injected. */
export function createAttributesHandler(client: IoTSiteWiseClient, now: () => number = Date.now): (event: unknown) => Promise<SetAttributesResult> {
  return async (event) => {
    const values = checkEvent(event);
    const timeInSeconds = Math.floor(now() / 1000);
    const failures: string[] = [];
    let calls = 0;
    for (let start = 0; start < values.length; start += ENTRIES_PER_CALL) {
      const entries: PutAssetPropertyValueEntry[] = values.slice(start, start + ENTRIES_PER_CALL).map((v, i) => ({
        entryId: String(start + i),
        propertyAlias: v.alias,
        propertyValues: [{ value: { doubleValue: v.value }, timestamp: { timeInSeconds, offsetInNanos: 0 }, quality: "GOOD" }],
      }));
      const response = await client.send(new BatchPutAssetPropertyValueCommand({ entries }));
      calls++;
      for (const error of response.errorEntries ?? []) {
        const alias = values[Number(error.entryId)]?.alias ?? `entry ${String(error.entryId)}`;
        for (const e of error.errors ?? []) failures.push(`${alias}: ${String(e.errorCode)} ${String(e.errorMessage)}`);
      }
    }
    if (failures.length > 0) throw new Error(`SiteWise rejected ${failures.length} attribute value(s): ${failures.join("; ")}`);
    return { written: values.length, calls };
  };
}
