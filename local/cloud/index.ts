/**
 * The local cloud of the factory in a box: the rules router (`router.ts`) with the real enrichment and detector
 * handlers, local stand-ins for Timestream, S3, Firehose, DynamoDB and SNS behind real AWS SDK clients
 * (`localAws.ts`), the twin with its OEE (`twin.ts`), and the {@link FactorySnapshot} the views show.
 *
 * Wiring (`npm start`): the broker calls {@link LocalCloud.deliver} with every message a gateway's agent publishes
 * (its Basic Ingest topic, the payload, the MQTT client id it connected with), the box calls
 * {@link LocalCloud.sweep} every `60 / speed` seconds (EventBridge Scheduler's minute, compressed) and
 * {@link LocalCloud.tick} every second (a trend point), and the views call {@link LocalCloud.snapshot}.
 */
import { QUALITY_MEASURE_SUFFIX, thingName, type FactoryConfig, type OeeCounters } from "@smart-factory/sdk";
import { gatewayKey, HEALTH_FRESH_MS, machineKey } from "../../lambdas/detector/detector";
import type { AlertView, FactorySnapshot, GatewayView, LineView, MachineView, OeeFigures, SnapshotSource, TrendPoint } from "../contracts";
import { createLocalAws, type LocalAws, type PublishedMessage, type StoredObject, type StreamRows } from "./localAws";
import type { StoredRecord } from "./localTimestream";
import { LocalLog, type LogEntry } from "./observability";
import { cloudNames, compressConfig, RulesRouter, type CloudNames, type FailedInvocation, type FunctionName, type RouteResult, type RouterCounts } from "./router";
import { LocalTwin } from "./twin";

export { compressConfig, cloudNames } from "./router";
export type { CloudNames, FailedInvocation, RouteResult, RouterCounts } from "./router";
export type { LogEntry } from "./observability";
export type { StoredRecord } from "./localTimestream";
export type { PublishedMessage, StoredObject, StreamRows } from "./localAws";

/** Alerts the snapshot lists (newest first). */
export const SNAPSHOT_ALERTS = 50;
/** Points the trend keeps (oldest dropped). */
export const TREND_POINTS = 120;

/** How to build the local cloud. */
export interface LocalCloudOptions {
  /** The factory's config as deployed (decoded with the SDK's codec). */
  readonly config: FactoryConfig;
  /** How much faster than real time the box runs (see `local/contracts.ts`). */
  readonly speed: number;
  /** The wall clock (epoch ms); default `Date.now`. Every handler and local service reads it. */
  readonly now?: () => number;
  /** Retries of a failed invocation; default 2 (Lambda's). */
  readonly retries?: number;
  /** Also gets every log line of the functions and the router (they are kept in memory either way). */
  readonly onLog?: (entry: LogEntry) => void;
  /** At least this long between two trend points; default 1000 ms. */
  readonly trendIntervalMs?: number;
  /** Telemetry records the local Timestream keeps; default 500,000 (the oldest are forgotten, still counted). */
  readonly maxTelemetryRecords?: number;
}

/** The rows the lake's two delivery streams received. */
export interface LakeRows {
  readonly readings: StreamRows;
  readonly states: StreamRows;
}

/** The local cloud (see the module comment). */
export class LocalCloud implements SnapshotSource {
  readonly config: FactoryConfig;
  /** The config at the box's speed: the detector's and the twin's. */
  readonly compressed: FactoryConfig;
  readonly speed: number;
  readonly startedAt: number;
  readonly names: CloudNames;
  readonly aws: LocalAws;
  readonly twin: LocalTwin;
  readonly router: RulesRouter;
  private readonly clock: () => number;
  private readonly log: LocalLog;
  private readonly trendIntervalMs: number;
  private readings = 0;
  private readonly lastReadingAt = new Map<string, number>();
  private readonly alertLog: AlertView[] = [];
  /** Raised and not yet cleared, by `<state item>/<condition>/<since>`. */
  private readonly active = new Map<string, AlertView>();
  private uplink: { up: boolean; downUntil: number | null } = { up: true, downUntil: null };
  private readonly trend: TrendPoint[] = [];
  private lastTick: { at: number; readings: number } | null = null;

  constructor(options: LocalCloudOptions) {
    this.config = options.config;
    this.speed = options.speed;
    this.compressed = compressConfig(options.config, options.speed);
    this.clock = options.now ?? Date.now;
    this.startedAt = this.clock();
    this.trendIntervalMs = options.trendIntervalMs ?? 1000;
    this.names = cloudNames(options.config);
    const n = this.names;
    this.log = new LocalLog(this.clock, options.onLog);
    this.aws = createLocalAws({
      region: n.region,
      clock: this.clock,
      timestreamTables: { [n.timestreamDatabase]: [n.timestreamTable] },
      buckets: [n.deadLetterBucket],
      deliveryStreams: [n.lakeReadingsStream, n.lakeStatesStream],
      dynamoDbTables: [{ name: n.stateTable, partitionKey: "pk", sortKey: "sk" }],
      topicArns: [n.topicArn],
      ...(options.maxTelemetryRecords === undefined ? {} : { maxTelemetryRecords: options.maxTelemetryRecords }),
      onTelemetryRecord: (next, previous) => {
        this.readings += readingsIn(next) - (previous === undefined ? 0 : readingsIn(previous));
        const machine = next.dimensions.machine;
        if (machine !== undefined) this.lastReadingAt.set(machine, Math.max(this.lastReadingAt.get(machine) ?? next.time, next.time));
      },
    });
    this.aws.sns.subscribe((message) => {
      this.noteAlert(message);
    });
    this.twin = new LocalTwin(this.compressed, this.startedAt);
    this.router = new RulesRouter({
      config: options.config,
      compressed: this.compressed,
      aws: this.aws,
      names: n,
      twin: this.twin,
      log: this.log,
      clock: this.clock,
      ...(options.retries === undefined ? {} : { retries: options.retries }),
    });
  }

  /** Route a message a gateway published (see `RulesRouter.deliver`); never rejects. */
  deliver(topic: string, payload: Buffer, clientId: string, receivedAt?: number): Promise<RouteResult> {
    return this.router.deliver(topic, payload, clientId, receivedAt);
  }

  /** The detector's scheduled sweep (call it every `60 / speed` seconds); never rejects. `now` is the scheduled time. */
  sweep(now?: number): Promise<boolean> {
    return this.router.sweep(now);
  }

  /** Record the uplink's state for the snapshot (the box cuts it during `--outage`). */
  setUplink(up: boolean, downUntil: number | null): void {
    this.uplink = { up, downUntil: up ? null : downUntil };
  }

  /** Append a trend point if the last one is at least the trend interval old; returns the point added. */
  tick(): TrendPoint | undefined {
    const now = this.clock();
    if (this.lastTick !== null && now - this.lastTick.at < this.trendIntervalMs) return undefined;
    return this.appendPoint(now, this.figures(now));
  }

  /** Everything the views show, now (a trend point is added when one is due). */
  snapshot(): FactorySnapshot {
    const now = this.clock();
    const figures = this.figures(now);
    if (this.lastTick === null || now - this.lastTick.at >= this.trendIntervalMs) this.appendPoint(now, figures);
    const gateways = this.gatewayViews(now);
    return {
      factory: { id: this.config.factory.id, name: this.config.factory.name },
      at: now,
      startedAt: this.startedAt,
      speed: this.speed,
      uplink: { ...this.uplink },
      oee: figures.factory,
      lines: figures.lines,
      gateways,
      alerts: this.alertLog.slice(-SNAPSHOT_ALERTS).reverse(),
      activeAlerts: this.active.size,
      totals: {
        readingsWritten: this.readings,
        // the dead-letter bucket (enrichment, detector, rule errors) and the functions' dead-letter queues
        cloudDeadLetters: this.aws.s3.count(this.names.deadLetterBucket) + this.router.counts().failedInvocations,
        edgeDeadLetters: gateways.reduce((n, g) => n + g.deadLetters, 0),
        stateEvents: this.twin.stateEvents(),
        notifications: this.aws.sns.count(),
      },
      trend: [...this.trend],
    };
  }

  // ------------------------------------------------------------------------------------------- accessors

  /** What the local Timestream holds, oldest written first. */
  telemetryRecords(): StoredRecord[] {
    return this.aws.timestream.all();
  }

  /** Readings written to the local Timestream (a tag's value or quality in a record; replaced records counted once). */
  readingCount(): number {
    return this.readings;
  }

  /** The dead-letter bucket's objects by key (the enrichment function's, the detector's, the rules' error actions'). */
  deadLetters(): Map<string, StoredObject> {
    return this.aws.s3.all(this.names.deadLetterBucket);
  }

  /** Every notification the detector published, oldest first. */
  notifications(): PublishedMessage[] {
    return this.aws.sns.all();
  }

  /** Every alert notification as the views show it, oldest first. */
  alerts(): AlertView[] {
    return [...this.alertLog];
  }

  /** Invocations that failed after their retries (the functions' dead-letter queues). */
  failures(): FailedInvocation[] {
    return this.router.failures();
  }

  /** What the lake's streams received. */
  lakeRows(): LakeRows {
    return { readings: this.aws.firehose.rows(this.names.lakeReadingsStream), states: this.aws.firehose.rows(this.names.lakeStatesStream) };
  }

  /** What the router has seen. */
  counts(): RouterCounts {
    return this.router.counts();
  }

  /** The functions' and the router's log lines kept, oldest first. */
  logs(): LogEntry[] {
    return this.log.all();
  }

  /** The functions' metrics, summed since the start. */
  metrics(): Record<FunctionName, Record<string, number>> {
    return { enrich: this.router.metrics.enrich.summary(), detector: this.router.metrics.detector.summary() };
  }

  // ------------------------------------------------------------------------------------------- figures

  private figures(now: number): { factory: OeeFigures; lines: LineView[] } {
    const all: OeeCounters[] = [];
    const lines = this.compressed.lines.map((line): LineView => {
      const counters: OeeCounters[] = [];
      const machines = line.machines.map((machine): MachineView => {
        const m = this.twin.machine(machine.id, now);
        counters.push(m.counters);
        return {
          id: machine.id,
          name: machine.name,
          lineId: line.id,
          type: machine.type,
          state: m.state,
          stateSince: m.stateSince,
          oee: m.oee,
          goodParts: m.counters.goodCount,
          badParts: m.counters.badCount,
          lastReadingAt: this.lastReadingAt.get(machine.id) ?? null,
          activeAlerts: [...this.active.values()].filter((a) => a.machineId === machine.id).length,
        };
      });
      all.push(...counters);
      return { id: line.id, name: line.name, oee: LocalTwin.total(counters).oee, machines };
    });
    return { factory: LocalTwin.total(all).oee, lines };
  }

  private gatewayViews(now: number): GatewayView[] {
    return this.router.gatewayReports().map((g): GatewayView => {
      const h = g.health;
      return {
        id: g.gatewayId,
        thing: thingName(this.config.factory.id, g.gatewayId as Parameters<typeof thingName>[1]),
        bufferDepth: h?.backlogReadings ?? 0,
        oldestUnsentSeconds: h !== null && h.backlogReadings > 0 ? h.backlogAgeSeconds : null,
        publishedPerSecond: h?.publishedReadingsPerSecond ?? null,
        deadLetters: h?.deadLetters ?? 0,
        // heard from lately (an agent sends health every minute, telemetry far more often) and the uplink is not cut
        connected: this.uplink.up && g.heardAt !== null && now - g.heardAt <= HEALTH_FRESH_MS,
        lastHealthAt: g.healthAt,
      };
    });
  }

  private appendPoint(now: number, figures: { factory: OeeFigures; lines: readonly LineView[] }): TrendPoint {
    const seconds = this.lastTick === null ? 0 : (now - this.lastTick.at) / 1000;
    const point: TrendPoint = {
      at: now,
      factoryOee: figures.factory.oee,
      readingsPerSecond: this.lastTick === null || seconds <= 0 ? 0 : (this.readings - this.lastTick.readings) / seconds,
      bufferDepth: this.router.gatewayReports().reduce((n, g) => n + (g.health?.backlogReadings ?? 0), 0),
      lines: Object.fromEntries(figures.lines.map((l) => [l.id, l.oee.oee])),
    };
    this.trend.push(point);
    if (this.trend.length > TREND_POINTS) this.trend.splice(0, this.trend.length - TREND_POINTS);
    this.lastTick = { at: now, readings: this.readings };
    return point;
  }

  private noteAlert(message: PublishedMessage): void {
    const alert = alertOf(message, this.config.factory.id);
    this.alertLog.push(alert);
    const episode = alert.id.replace(/\/(raise|clear)$/, "");
    if (alert.kind === "raised") this.active.set(episode, alert);
    else this.active.delete(episode);
  }
}

/** Build the local cloud of `options.config`'s factory (see {@link LocalCloud}). */
export function createLocalCloud(options: LocalCloudOptions): LocalCloud {
  return new LocalCloud(options);
}

/** Readings in a record: one per tag, whether it has a value, a quality or both. */
function readingsIn(record: StoredRecord): number {
  const tags = new Set(Object.keys(record.measures).map((name) => (name.endsWith(QUALITY_MEASURE_SUFFIX) ? name.slice(0, -QUALITY_MEASURE_SUFFIX.length) : name)));
  return tags.size;
}

/**
 * A detector notification as the views show it. The detector publishes the notice's subject and message with the
 * attributes `factory`, `line` and `machine` (machines) or `gateway`, `condition`, `severity` and `event`
 * (`raise`/`clear`); its notice id (`<state item>/<condition>/<since>/<event>`) is rebuilt from them and the
 * message's `Since:` line (the episode's start), or is the SNS message id when that line is missing.
 */
export function alertOf(message: PublishedMessage, factoryId: string): AlertView {
  const a = message.attributes;
  const machineId = a.machine ?? null;
  const gatewayId = a.gateway ?? null;
  const event = a.event === "clear" ? "clear" : "raise";
  const since = /^Since:\s+(\S+)/m.exec(message.message)?.[1];
  const sinceMs = since === undefined ? Number.NaN : Date.parse(since);
  const item = machineId !== null ? machineKey(machineId) : gatewayId !== null ? gatewayKey(gatewayId) : null;
  const id = item !== null && Number.isFinite(sinceMs) ? `${item}/${a.condition ?? "unknown"}/${sinceMs}/${event}` : message.messageId;
  // the subject is `[SEVERITY] <factory> <machine>: <what>` or `[SEVERITY] <factory> gateway <gateway>: <what>`
  const who = machineId !== null ? `${factoryId} ${machineId}` : gatewayId !== null ? `${factoryId} gateway ${gatewayId}` : null;
  const subjectLine = message.subject ?? "";
  const prefix = who === null ? null : new RegExp(`^\\[[A-Z]+\\] ${escapeRegExp(who)}: `).exec(subjectLine);
  return {
    id,
    kind: event === "clear" ? "cleared" : "raised",
    severity: a.severity ?? "unknown",
    lineId: a.line ?? null,
    machineId,
    gatewayId,
    subject: prefix === null ? subjectLine : subjectLine.slice(prefix[0].length),
    at: message.at,
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
