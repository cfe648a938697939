/**
 * The MQTT adapter: subscribes to the local sensors' topics on the gateway's broker (`gateways[].localBroker`),
 * each topic wired in the stack config to one machine and tag, and turns each JSON message into a reading for the
 * intake. The topic says which machine and tag a value is for; a payload that is not JSON or not a sensor message
 * is dead-lettered with the reason, and the adapter keeps listening.
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { check, formatIssues, SensorMessage, type Reading, type UnitId } from "@smart-factory/sdk";
import type { GatewayPlan } from "./config";
import type { Intake } from "./intake";

/** Where a sensor topic's values go. */
export interface SensorRoute {
  readonly machineId: string;
  readonly tag: string;
  /** The tag's configured unit, for messages that give none. */
  readonly unit: UnitId;
}

/** Payloads larger than this are refused unread (a sensor value is a few dozen bytes). */
export const MAX_SENSOR_PAYLOAD_BYTES = 4096;

/** Every sensor topic of the gateway's machines, with the machine and tag it feeds. */
export function sensorRoutes(plan: GatewayPlan): Map<string, SensorRoute> {
  const routes = new Map<string, SensorRoute>();
  for (const { machine, type } of plan.machines) {
    for (const [tag, topic] of Object.entries(machine.sensors ?? {})) {
      const spec = type.tags.find((t) => t.name === tag);
      if (spec !== undefined) routes.set(topic, { machineId: machine.id, tag, unit: spec.unit });
    }
  }
  return routes;
}

/**
 * The reading of one sensor message, or why there is none. `now` stamps a message without a timestamp (its
 * clock is then `gateway`, so the cloud knows the time is the gateway's receive time, not the sensor's).
 */
export function sensorReading(route: SensorRoute, payload: Uint8Array, now: number): { ok: true; reading: Reading } | { ok: false; reason: string } {
  if (payload.byteLength > MAX_SENSOR_PAYLOAD_BYTES) return { ok: false, reason: `payload of ${payload.byteLength} bytes exceeds ${MAX_SENSOR_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString("utf8")) as unknown;
  } catch (error) {
    return { ok: false, reason: `payload is not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const decoded = check(SensorMessage, json);
  if (!decoded.ok) return { ok: false, reason: formatIssues(decoded.issues) };
  const m = decoded.value;
  const quality = m.quality ?? (m.value === null ? "bad" : "good");
  return {
    ok: true,
    reading: {
      machineId: route.machineId,
      tag: route.tag,
      timestamp: m.timestamp ?? now,
      clock: m.timestamp === undefined ? "gateway" : "source",
      value: m.value,
      unit: m.unit ?? route.unit,
      quality,
    } as Reading,
  };
}

/** Options of {@link SensorAdapter}. */
export interface SensorAdapterOptions {
  readonly plan: GatewayPlan;
  readonly intake: Intake;
  /** The broker (default: the gateway's `localBroker`). */
  readonly brokerUrl?: string;
  /** Extra connection options (TLS material for `mqtts://`). */
  readonly connectOptions?: IClientOptions;
  readonly now?: () => number;
}

/** Subscribes to the gateway's sensor topics and feeds the intake. */
export class SensorAdapter {
  private client: MqttClient | undefined;
  private readonly routes: Map<string, SensorRoute>;
  private readonly now: () => number;
  /** Messages received, and refused before validation (bad JSON, not a sensor message, unknown topic). */
  readonly counters = { received: 0, refused: 0 };

  constructor(private readonly options: SensorAdapterOptions) {
    this.routes = sensorRoutes(options.plan);
    this.now = options.now ?? Date.now;
  }

  /** The topics it listens to. */
  topics(): string[] {
    return [...this.routes.keys()];
  }

  /** Connect and subscribe (QoS 1); resolves once subscribed. Nothing to do for a gateway without sensors. */
  async start(): Promise<void> {
    if (this.routes.size === 0) return;
    const url = this.options.brokerUrl ?? this.options.plan.gateway.localBroker;
    if (url === undefined) throw new Error(`gateway ${this.options.plan.gateway.id} has sensor topics but no localBroker in the stack config`);
    const client = mqtt.connect(url, { clientId: `${this.options.plan.clientId}-sensors`, clean: false, reconnectPeriod: 1000, ...this.options.connectOptions });
    this.client = client;
    client.on("message", (topic, payload) => {
      this.onMessage(topic, payload);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => {
        client.subscribe(this.topics(), { qos: 1 }, (error) => {
          if (error) reject(error);
          else resolve();
        });
      });
      client.once("error", reject);
    });
  }

  /** Handle one message (public for tests of the mapping without a broker). */
  onMessage(topic: string, payload: Uint8Array): void {
    this.counters.received++;
    const route = this.routes.get(topic);
    const source = `mqtt:${topic}`;
    if (route === undefined) {
      this.counters.refused++;
      this.options.intake.refuse("sensor", { topic, payload: Buffer.from(payload).toString("utf8").slice(0, 512) }, `${source}: no machine and tag are wired to this topic`);
      return;
    }
    const result = sensorReading(route, payload, this.now());
    if (!result.ok) {
      this.counters.refused++;
      this.options.intake.refuse("sensor", { topic, payload: Buffer.from(payload).toString("utf8").slice(0, 512) }, `${source}: ${result.reason}`);
      return;
    }
    this.options.intake.readings([result.reading], source);
  }

  /** Unsubscribe and close. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.endAsync();
  }
}
