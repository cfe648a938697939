import { strict as assert } from "node:assert";
import { figure, summary } from "../../bench/run";

describe("npm run bench's summary", () => {
  it("states the machine and each benchmark's figures, rounded as people read them", () => {
    const md = summary("2026-11-26T02:00:00.000Z", { cpus: 2, cpuModel: "AMD EPYC", memoryGiB: 24, node: "v20.20.2", platform: "linux x64" }, [
      { name: "enrich", figures: { readingsPerSecond: 182345.678, writeCalls: 89, ratio: 0.996061 }, notes: "10,000-reading batches." },
    ]);
    assert.match(md, /^# Benchmark results\n/);
    assert.match(md, /on 2 cores \(AMD EPYC\), 24 GiB, Node\.js v20\.20\.2, linux x64\./);
    assert.match(md, /## enrich\n\n\| figure \| value \|\n\|---\|---\|\n\| readingsPerSecond \| 182,346 \|\n\| writeCalls \| 89 \|\n\| ratio \| 0\.996 \|/);
    assert.match(md, /10,000-reading batches\.\n$/);
    assert.equal(figure(Number.NaN), "NaN");
    assert.equal(figure(4.433571), "4.43");
  });
});
