/**
 * The factory in a box (`npm start`): the contracts between its parts. The simulator (`./simulator`) plays the
 * factory's PLCs and sensors, the real edge agents read them and publish over mutual TLS to the embedded broker
 * (`./broker`), the local cloud (`./cloud`) routes each topic to the real Lambda handlers with local stand-ins for
 * the AWS services, and the views (`./view`) show a {@link FactorySnapshot} in the terminal and on a web page.
 *
 * Time: everything runs on the wall clock (readings carry real timestamps, so the agent's and the cloud's skew
 * checks hold), and `speed` compresses the factory's behaviour instead: at speed 10 a machine's states last a
 * tenth as long and it makes parts ten times as fast. The local cloud compresses its configuration the same way
 * (ideal run rates x speed, alert durations / speed), so OEE and alerts read as they would in real time.
 */
import type { MachineState } from "@smart-factory/sdk";

/** OEE ratios shown for a machine, a line or the factory; `null` is "no data" (a zero denominator). */
export interface OeeFigures {
  readonly availability: number | null;
  readonly performance: number | null;
  readonly quality: number | null;
  readonly oee: number | null;
}

/** One machine as the views show it. */
export interface MachineView {
  readonly id: string;
  readonly name: string;
  readonly lineId: string;
  readonly type: string;
  /** The last state the local cloud received; `unknown` before the first. */
  readonly state: MachineState | "unknown";
  /** When that state began (epoch ms). */
  readonly stateSince: number | null;
  /** Since the box started, from the state stream the local cloud received. */
  readonly oee: OeeFigures;
  readonly goodParts: number;
  readonly badParts: number;
  /** The newest reading written to the local telemetry store (epoch ms). */
  readonly lastReadingAt: number | null;
  /** Alerts active on this machine. */
  readonly activeAlerts: number;
}

/** A line: its machines and their OEE summed as ARCHITECTURE.md defines (counters summed, then ratios). */
export interface LineView {
  readonly id: string;
  readonly name: string;
  readonly oee: OeeFigures;
  readonly machines: readonly MachineView[];
}

/** One alert notification the detector sent (raise or clear). */
export interface AlertView {
  /** The detector's notice id. */
  readonly id: string;
  readonly kind: "raised" | "cleared";
  readonly severity: string;
  readonly lineId: string | null;
  readonly machineId: string | null;
  readonly gatewayId: string | null;
  /** What happened, as the subject says it (`fault held`, `spindleTemperature above 80 degC` ...). */
  readonly subject: string;
  /** When the notification was sent (epoch ms). */
  readonly at: number;
}

/** A gateway's agent, from its last health message. */
export interface GatewayView {
  readonly id: string;
  readonly thing: string;
  /** Readings waiting in the agent's durable buffer. */
  readonly bufferDepth: number;
  readonly oldestUnsentSeconds: number | null;
  readonly publishedPerSecond: number | null;
  readonly deadLetters: number;
  /** Whether the agent's MQTT connection to the (local) cloud is up. */
  readonly connected: boolean;
  /** When the last health message arrived (epoch ms). */
  readonly lastHealthAt: number | null;
}

/** One point of the trend charts. */
export interface TrendPoint {
  readonly at: number;
  readonly factoryOee: number | null;
  /** Readings written to the local telemetry store per second over the last interval. */
  readonly readingsPerSecond: number;
  /** Sum of the gateways' buffer depths. */
  readonly bufferDepth: number;
  /** Each line's OEE by line id. */
  readonly lines: Readonly<Record<string, number | null>>;
}

/** Everything the views show, at one instant. */
export interface FactorySnapshot {
  readonly factory: { readonly id: string; readonly name: string };
  readonly at: number;
  readonly startedAt: number;
  readonly speed: number;
  /** The uplink between the agents and the cloud: cut during an outage (`--outage`). */
  readonly uplink: { readonly up: boolean; readonly downUntil: number | null };
  readonly oee: OeeFigures;
  readonly lines: readonly LineView[];
  readonly gateways: readonly GatewayView[];
  /** Newest first, at most 50. */
  readonly alerts: readonly AlertView[];
  readonly activeAlerts: number;
  readonly totals: {
    /** Readings the local telemetry store holds (the enrichment handler wrote them). */
    readonly readingsWritten: number;
    /** Readings and batches the local cloud dead-lettered (enrichment and detector). */
    readonly cloudDeadLetters: number;
    /** What the agents dead-lettered on the gateways (their health messages' counts). */
    readonly edgeDeadLetters: number;
    readonly stateEvents: number;
    readonly notifications: number;
  };
  /** Oldest first, at most 120 points. */
  readonly trend: readonly TrendPoint[];
}

/** Where the views get their figures. */
export interface SnapshotSource {
  snapshot(): FactorySnapshot;
}
