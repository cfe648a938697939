import { strict as assert } from "node:assert";
import { deflateRawSync } from "node:zlib";
import {
  BatchSizer,
  ContractError,
  decodeTelemetryBatch,
  encodeTelemetryBatch,
  MAX_MESSAGE_BYTES,
  type Reading,
  type TelemetryBatch,
  WireFormatError,
} from "@smart-factory/sdk";
import { batchOf, realisticReadings } from "../helpers/readings";

const envelope = (batch: TelemetryBatch) => ({
  factoryId: batch.factoryId,
  gatewayId: batch.gatewayId,
  sequence: batch.sequence,
  sentAt: batch.sentAt,
});

/** The longest prefix of `readings` that a BatchSizer accepts under `maxBytes`. */
function fill(readings: Reading[], maxBytes: number, sequence = 42): { batch: TelemetryBatch; sizer: BatchSizer } {
  const probe = batchOf(readings.slice(0, 1), sequence);
  const sizer = new BatchSizer(envelope(probe), maxBytes);
  let n = 0;
  while (n < readings.length && sizer.tryAdd(readings[n] as Reading)) n++;
  return { batch: { ...probe, readings: readings.slice(0, n) }, sizer };
}

describe("telemetry batch wire encoding", () => {
  it("round-trips a realistic batch exactly, compressed or not", () => {
    const batch = batchOf(realisticReadings(600));
    for (const compression of ["auto", "never", "always"] as const) {
      assert.deepEqual(decodeTelemetryBatch(encodeTelemetryBatch(batch, { compression })), batch, compression);
    }
  });

  it("keeps the order of readings, even when times go backwards", () => {
    const readings = realisticReadings(50).reverse();
    assert.deepEqual(decodeTelemetryBatch(encodeTelemetryBatch(batchOf(readings))).readings, readings);
  });

  it("carries every value exactly: integers, decimals, floats, extremes, -0 and null", () => {
    const values = [0, -0, 1, -1, 42, 1e15, -(2 ** 53 - 1), 2 ** 53 - 1, 0.1, 72.45, -3.14159, 1e-7, 123456.789012, Math.PI, 1 / 3, Number.MAX_VALUE, Number.MIN_VALUE, 5e-324, 0.30000000000000004, 16777217.5];
    const base = realisticReadings(1)[0] as Reading;
    const readings: Reading[] = values.map((value, i) => ({ ...base, value, timestamp: base.timestamp + i }));
    readings.push({ ...base, value: null, quality: "bad" });
    const decoded = decodeTelemetryBatch(encodeTelemetryBatch(batchOf(readings), { compression: "never" })).readings;
    decoded.forEach((r, i) => { assert.ok(Object.is(r.value, readings[i]?.value), `value ${String(readings[i]?.value)} came back as ${String(r.value)}`); });
  });

  it("carries quality and clock of each reading", () => {
    const base = realisticReadings(1)[0] as Reading;
    const readings: Reading[] = [];
    for (const quality of ["good", "uncertain", "bad"] as const) {
      for (const clock of ["source", "server", "gateway"] as const) readings.push({ ...base, quality, clock });
    }
    assert.deepEqual(decodeTelemetryBatch(encodeTelemetryBatch(batchOf(readings))).readings, readings);
  });

  it("round-trips an empty batch and the largest sequence number", () => {
    const batch = { ...batchOf([]), sequence: Number.MAX_SAFE_INTEGER };
    assert.deepEqual(decodeTelemetryBatch(encodeTelemetryBatch(batch)), batch);
  });

  it("accepts the base64 text an IoT rule hands a Lambda", () => {
    const batch = batchOf(realisticReadings(100));
    const base64 = Buffer.from(encodeTelemetryBatch(batch)).toString("base64");
    assert.deepEqual(decodeTelemetryBatch(base64), batch);
  });

  it("is several times smaller than JSON for a realistic batch", () => {
    const batch = batchOf(realisticReadings(1000));
    const json = Buffer.byteLength(JSON.stringify(batch));
    const wire = encodeTelemetryBatch(batch).length;
    assert.ok(wire * 5 < json, `wire ${wire} bytes vs JSON ${json} bytes`);
  });

  it("refuses values the format cannot carry", () => {
    const base = realisticReadings(1)[0] as Reading;
    assert.throws(() => encodeTelemetryBatch(batchOf([{ ...base, value: Number.POSITIVE_INFINITY }])), WireFormatError);
  });

  describe("the largest batch that fits in one IoT Core message (128 KB)", () => {
    const readings = realisticReadings(40_000);
    const { batch, sizer } = fill(readings, MAX_MESSAGE_BYTES);

    it("is sized exactly while it is filled", () => {
      assert.equal(encodeTelemetryBatch(batch, { compression: "never" }).length, sizer.bytes);
    });

    it("fits, uncompressed and as sent", () => {
      assert.ok(sizer.bytes <= MAX_MESSAGE_BYTES);
      assert.ok(encodeTelemetryBatch(batch).length <= MAX_MESSAGE_BYTES);
    });

    it("could not take one more reading", () => {
      const next = readings[batch.readings.length] as Reading;
      const bigger = { ...batch, readings: [...batch.readings, next] };
      assert.ok(encodeTelemetryBatch(bigger, { compression: "never" }).length > MAX_MESSAGE_BYTES);
    });

    it("holds tens of thousands of readings and round-trips", () => {
      assert.ok(batch.readings.length > 15_000, `${batch.readings.length} readings`);
      assert.deepEqual(decodeTelemetryBatch(encodeTelemetryBatch(batch)), batch);
    });
  });

  it("sizes exactly for any limit and data", () => {
    for (const [seed, maxBytes] of [[2, 64], [3, 500], [4, 4096], [5, 20_000]] as const) {
      const readings = realisticReadings(5000, { seed, machines: 40 });
      const { batch, sizer } = fill(readings, maxBytes, 2 ** 40);
      assert.equal(encodeTelemetryBatch(batch, { compression: "never" }).length, sizer.bytes, `seed ${seed}`);
      assert.ok(sizer.bytes <= maxBytes);
    }
  });

  describe("rejects what is not a valid message, saying why", () => {
    const good = encodeTelemetryBatch(batchOf(realisticReadings(30)), { compression: "never" });
    const cases: [string, Uint8Array | string, RegExp][] = [
      ["JSON text", Buffer.from('{"readings":[]}'), /does not start with the bytes "SF"/],
      ["a future format version", Uint8Array.from([0x53, 0x46, 9, 0]), /unsupported wire format version 9/],
      ["unknown flags", Uint8Array.from([0x53, 0x46, 1, 0x80]), /unknown flags 0x80/],
      ["a truncated message", good.subarray(0, good.length - 3), /truncated message/],
      ["trailing bytes", Buffer.concat([good, Uint8Array.from([0])]), /1 unexpected bytes after the last reading/],
      ["a corrupt compressed body", Uint8Array.from([0x53, 0x46, 1, 1, 0xff, 0xff, 0xff]), /corrupt compressed body/],
      ["text that is not base64", "not base64!", /not base64/],
    ];
    for (const [what, payload, message] of cases) {
      it(what, () => {
        assert.throws(() => decodeTelemetryBatch(payload), (e: unknown) => e instanceof WireFormatError && message.test(e.message));
      });
    }

    it("a well-formed message whose content breaks the contract, naming the reading", () => {
      const base = realisticReadings(3)[0] as Reading;
      const bad = batchOf([base, { ...base, machineId: "CNC 1" as Reading["machineId"] }]);
      assert.throws(
        () => decodeTelemetryBatch(encodeTelemetryBatch(bad)),
        (e: unknown) => e instanceof ContractError && e.issues[0]?.path === "readings[1].machineId",
      );
    });

    it("a compressed body that inflates beyond any real message", () => {
      const zeros = new Uint8Array(16 * 1024 * 1024);
      const bomb = Buffer.concat([Uint8Array.from([0x53, 0x46, 1, 1]), deflateRawSync(zeros)]);
      assert.throws(() => decodeTelemetryBatch(bomb), /corrupt compressed body/);
    });
  });
});
