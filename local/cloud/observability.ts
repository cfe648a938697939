/**
 * What the local cloud gives the real handlers instead of Powertools' `Logger` and `Metrics`: the same methods
 * (those the handlers' `EnrichLogger`/`DetectorLogger` and `EnrichMetrics`/`DetectorMetrics` name), kept in memory
 * so the box can show them, instead of CloudWatch Logs and EMF lines on stdout, which would scramble a terminal view.
 */
import type { MetricUnitName } from "../../lambdas/enrich/handler";

/** One log line of a function (or of the router). */
export interface LogEntry {
  /** Which part logged it: `enrich`, `detector`, `router`. */
  readonly service: string;
  readonly level: "info" | "warn" | "error";
  readonly message: string;
  /** The attributes passed with the message, merged. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Wall-clock time of the line (the local clock, epoch ms). */
  readonly at: number;
}

/** The log of every local function, newest kept; `sink` also gets each line as it is written. */
export class LocalLog {
  private readonly entries: LogEntry[] = [];

  constructor(
    private readonly clock: () => number,
    private readonly sink?: (entry: LogEntry) => void,
    /** Lines kept (the oldest are dropped). */
    private readonly limit = 1000,
  ) {}

  /** A Powertools-shaped logger writing here as `service`. */
  logger(service: string): LocalLogger {
    const write =
      (level: LogEntry["level"]) =>
      (message: string, ...attributes: Record<string, unknown>[]): void => {
        this.write({ service, level, message, attributes: Object.assign({}, ...attributes) as Record<string, unknown>, at: this.clock() });
      };
    return { info: write("info"), warn: write("warn"), error: write("error") };
  }

  /** The lines kept, oldest first. */
  all(): LogEntry[] {
    return [...this.entries];
  }

  private write(entry: LogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    this.sink?.(entry);
  }
}

/** The part of Powertools' `Logger` the handlers use. */
export interface LocalLogger {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

/**
 * A Powertools-shaped metrics object: every value added is summed per metric name at once. Powertools keeps values
 * until `publishStoredMetrics` writes them; here invocations run concurrently on one object, so values are summed
 * when added (a per-invocation store would mix invocations) and publishing only counts the flushes.
 */
export class LocalMetrics {
  private readonly totals = new Map<string, { unit: MetricUnitName; value: number }>();
  private flushes = 0;

  /** Powertools' `addMetric`. */
  addMetric(name: string, unit: MetricUnitName, value: number): void {
    const total = this.totals.get(name);
    if (total === undefined) this.totals.set(name, { unit, value });
    else total.value += value;
  }

  /** Powertools' `publishStoredMetrics`: one per invocation. */
  publishStoredMetrics(): void {
    this.flushes++;
  }

  /** The sum of every metric so far, by name. */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.totals].map(([name, t]) => [name, t.value]));
  }

  /** How many invocations published their metrics. */
  published(): number {
    return this.flushes;
  }
}
