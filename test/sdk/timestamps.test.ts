import { strict as assert } from "node:assert";
import { checkTimestamp, formatDuration, pickTimestamp, readingBounds, SITEWISE_BOUNDS, stateEventBounds } from "@smart-factory/sdk";

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const MIN = 60_000;
const DAY = 86_400_000;

describe("timestamp policy", () => {
  it("prefers the source timestamp, then the server's, then the gateway's receive time", () => {
    assert.deepEqual(pickTimestamp({ source: NOW - 5, server: NOW - 3, received: NOW }), { timestamp: NOW - 5, clock: "source" });
    assert.deepEqual(pickTimestamp({ source: null, server: new Date(NOW - 3), received: NOW }), { timestamp: NOW - 3, clock: "server" });
    assert.deepEqual(pickTimestamp({ received: new Date(NOW) }), { timestamp: NOW, clock: "gateway" });
  });

  it("treats OPC UA's minimum date as no timestamp", () => {
    const opcUaMinDate = Date.UTC(1601, 0, 1);
    assert.equal(pickTimestamp({ source: opcUaMinDate, server: NOW - 1, received: NOW }).clock, "server");
  });

  it("bounds readings by the magnetic store's retention and the configured skew", () => {
    const bounds = readingBounds({ memoryStoreRetentionHours: 24, magneticStoreRetentionDays: 30, maxFutureSkewSeconds: 120 });
    assert.deepEqual(bounds, { maxAgeMs: 30 * DAY, maxFutureMs: 2 * MIN });
    assert.deepEqual(checkTimestamp(NOW - 29 * DAY, NOW, bounds), { ok: true });
    const old = checkTimestamp(NOW - 31 * DAY, NOW, bounds);
    assert.equal(old.ok ? "ok" : old.reason, "tooOld");
    const ahead = checkTimestamp(NOW + 3 * MIN, NOW, bounds);
    assert.ok(!ahead.ok);
    assert.equal(ahead.message, "timestamp 2026-11-25T12:03:00.000Z is 3m ahead of 2026-11-25T12:00:00.000Z (at most 2m allowed)");
  });

  it("narrows state events to what SiteWise accepts", () => {
    const bounds = stateEventBounds({ memoryStoreRetentionHours: 24, magneticStoreRetentionDays: 365, maxFutureSkewSeconds: 600 });
    assert.deepEqual(bounds, SITEWISE_BOUNDS);
    const verdict = checkTimestamp(NOW - 8 * DAY, NOW, bounds);
    assert.ok(!verdict.ok);
    assert.match(verdict.message, /is 8d old .* \(at most 7d accepted\)/);
  });

  it("formats durations with their two largest units", () => {
    assert.equal(formatDuration(250), "250ms");
    assert.equal(formatDuration(3 * DAY + 4 * 3_600_000 + 5 * MIN), "3d 4h");
    assert.equal(formatDuration(12 * MIN + 5_000), "12m 5s");
  });
});
