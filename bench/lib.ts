/** What the benchmarks share: the result shape `npm run bench` collects, and a median rate. */

/** One benchmark's figures, as `npm run bench` collects them. */
export interface BenchResult {
  readonly name: string;
  readonly figures: Record<string, number>;
  readonly notes: string;
}

/** Median rate (calls per second) of `fn` over `rounds` rounds of at least `minMs` each. */
export function rate(fn: () => void, rounds = 5, minMs = 300): number {
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < minMs) {
      fn();
      calls++;
      elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    }
    rates.push((calls * 1000) / elapsed);
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] as number;
}
