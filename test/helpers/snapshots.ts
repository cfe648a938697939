/**
 * Factory snapshots for the view tests: what the local cloud of factory A would show twelve minutes into a run at
 * speed 10, after a short outage. Two lines, five machines (press-02 in fault with an alert raised, cnc-02 in a
 * planned stop since the start so its ratios are "no data"), a gateway draining a backlog, 30 trend points.
 */
import type { MachineState } from "@smart-factory/sdk";
import type { FactorySnapshot, MachineView, OeeFigures, SnapshotSource, TrendPoint } from "../../local/contracts";

/** The instant of {@link factorySnapshot}: 2026-11-25T08:30:00Z. */
export const SNAPSHOT_AT = Date.UTC(2026, 10, 25, 8, 30, 0);

/** OEE figures from A, P and Q, with OEE their product as the definition has it. */
export function figures(availability: number | null, performance: number | null, quality: number | null): OeeFigures {
  const oee = availability === null || performance === null || quality === null ? null : availability * performance * quality;
  return { availability, performance, quality, oee };
}

function machine(id: string, lineId: string, type: string, state: MachineState | "unknown", oee: OeeFigures, parts: [number, number], alerts = 0): MachineView {
  return {
    id,
    name: `${type === "servo-press" ? "Servo press" : "Machining centre"} ${id.slice(-2)}`,
    lineId,
    type,
    state,
    stateSince: SNAPSHOT_AT - 95_000,
    oee,
    goodParts: parts[0],
    badParts: parts[1],
    lastReadingAt: SNAPSHOT_AT - 800,
    activeAlerts: alerts,
  };
}

function trend(points: number): TrendPoint[] {
  return Array.from({ length: points }, (_, i) => {
    const wave = Math.sin(i / 4);
    return {
      at: SNAPSHOT_AT - (points - 1 - i) * 5_000,
      // No state had arrived yet at the first point: the chart must cope with a gap.
      factoryOee: i === 0 ? null : 0.62 + 0.08 * wave,
      readingsPerSecond: i < 8 ? 0 : 240 + 30 * wave,
      // The outage: the backlog builds up, then drains.
      bufferDepth: i < 8 ? i * 900 : Math.max(0, 7200 - (i - 8) * 400),
      lines: { "press-line-1": i === 0 ? null : 0.58 + 0.1 * wave, "cnc-cell-1": i === 0 ? null : 0.7 - 0.05 * wave },
    };
  });
}

/** A realistic snapshot of factory A (see the module comment). */
export function factorySnapshot(): FactorySnapshot {
  const press1 = [
    machine("press-01", "press-line-1", "servo-press", "running", figures(0.952, 0.871, 0.987), [4213, 55]),
    machine("press-02", "press-line-1", "servo-press", "fault", figures(0.612, 0.843, 0.979), [2710, 58], 1),
    machine("press-03", "press-line-1", "servo-press", "idle", figures(0.804, 0.902, 0.991), [3655, 33]),
  ];
  const cnc = [
    machine("cnc-01", "cnc-cell-1", "cnc-mill", "running", figures(0.915, 0.768, 1), [212, 0]),
    // In a planned stop since the box started: no planned production time, so every ratio is "no data".
    machine("cnc-02", "cnc-cell-1", "cnc-mill", "plannedStop", figures(null, null, null), [0, 0]),
  ];
  return {
    factory: { id: "factory-a", name: "Stuttgart Stamping and Machining" },
    at: SNAPSHOT_AT,
    startedAt: SNAPSHOT_AT - 754_000,
    speed: 10,
    uplink: { up: true, downUntil: null },
    oee: figures(0.823, 0.861, 0.986),
    lines: [
      { id: "press-line-1", name: "Press line 1 (body panels)", oee: figures(0.789, 0.872, 0.985), machines: press1 },
      { id: "cnc-cell-1", name: "CNC cell 1", oee: figures(0.915, 0.768, 1), machines: cnc },
    ],
    gateways: [
      { id: "gw-press", thing: "factory-a-gw-press", bufferDepth: 0, oldestUnsentSeconds: null, publishedPerSecond: 182.4, deadLetters: 0, connected: true, lastHealthAt: SNAPSHOT_AT - 2_000 },
      { id: "gw-cnc", thing: "factory-a-gw-cnc", bufferDepth: 1834, oldestUnsentSeconds: 42.5, publishedPerSecond: 310.2, deadLetters: 2, connected: true, lastHealthAt: SNAPSHOT_AT - 4_000 },
    ],
    alerts: [
      { id: "n-3", kind: "raised", severity: "critical", lineId: "press-line-1", machineId: "press-02", gatewayId: "gw-press", subject: "fault held", at: SNAPSHOT_AT - 30_000 },
      { id: "n-2", kind: "cleared", severity: "warning", lineId: "cnc-cell-1", machineId: "cnc-01", gatewayId: "gw-cnc", subject: "spindleTemperature above 80 degC", at: SNAPSHOT_AT - 200_000 },
      { id: "n-1", kind: "raised", severity: "warning", lineId: "cnc-cell-1", machineId: "cnc-01", gatewayId: "gw-cnc", subject: "spindleTemperature above 80 degC", at: SNAPSHOT_AT - 260_000 },
    ],
    activeAlerts: 1,
    totals: { readingsWritten: 184_512, cloudDeadLetters: 3, edgeDeadLetters: 2, stateEvents: 1_208, notifications: 3 },
    trend: trend(30),
  };
}

/** All machines of `snapshot`, line by line. */
export function machinesOf(snapshot: FactorySnapshot): MachineView[] {
  return snapshot.lines.flatMap((line) => line.machines);
}

/** `snapshot` with machine `machineId` changed by `patch`. */
export function withMachine(snapshot: FactorySnapshot, machineId: string, patch: Partial<MachineView>): FactorySnapshot {
  if (!machinesOf(snapshot).some((m) => m.id === machineId)) throw new Error(`withMachine: no machine "${machineId}" in the snapshot`);
  return {
    ...snapshot,
    lines: snapshot.lines.map((line) => ({ ...line, machines: line.machines.map((m) => (m.id === machineId ? { ...m, ...patch } : m)) })),
  };
}

/** `snapshot` during an outage that ends at `until`. */
export function duringOutage(snapshot: FactorySnapshot, until: number): FactorySnapshot {
  return { ...snapshot, uplink: { up: false, downUntil: until } };
}

/** A source the test controls: it serves {@link current}, which the test replaces to make the factory change. */
export class FakeSnapshotSource implements SnapshotSource {
  /** How many snapshots were taken. */
  calls = 0;

  constructor(public current: FactorySnapshot = factorySnapshot()) {}

  snapshot(): FactorySnapshot {
    this.calls++;
    return this.current;
  }

  /** Puts machine `machineId` in `state` from the next snapshot on. */
  setMachineState(machineId: string, state: MachineView["state"]): void {
    this.current = withMachine(this.current, machineId, { state, stateSince: this.current.at });
  }
}
