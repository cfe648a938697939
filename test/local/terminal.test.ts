import assert from "node:assert/strict";
import { renderTerminal, startTerminalView, summaryLine, type TerminalOut } from "../../local/view/terminal";
import type { AlertView } from "../../local/contracts";
import { duringOutage, factorySnapshot, FakeSnapshotSource, machinesOf, SNAPSHOT_AT, withMachine } from "../helpers/snapshots";

const ESC = "\u001b";

/** The percentage an operator expects for a ratio: one decimal. */
function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function localClock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => n.toString().padStart(2, "0")).join(":");
}

function rowOf(table: string, id: string): string {
  const row = table.split("\n").find((l) => l.trim().startsWith(`${id} `));
  assert.ok(row, `no row for ${id} in:\n${table}`);
  return row;
}

/** A stream that records what is written, as a terminal or as a log file. */
class RecordingOut implements TerminalOut {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 120,
    readonly rows = 60,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join("");
  }
}

describe("local terminal view", () => {
  let savedNoColor: string | undefined;
  beforeEach(() => {
    // The color tests must not depend on the NO_COLOR of whoever runs them.
    savedNoColor = process.env["NO_COLOR"];
    delete process.env["NO_COLOR"];
  });
  afterEach(() => {
    if (savedNoColor === undefined) delete process.env["NO_COLOR"];
    else process.env["NO_COLOR"] = savedNoColor;
  });

  it("shows every line and machine with its OEE, A, P and Q as percentages with one decimal", () => {
    const snapshot = factorySnapshot();
    const table = renderTerminal(snapshot, { color: false });
    for (const line of snapshot.lines) {
      const row = rowOf(table, line.id);
      assert.ok(row.includes(percent(line.oee.oee!)), `line ${line.id} row lacks its OEE ${percent(line.oee.oee!)}: ${row}`);
    }
    for (const machine of machinesOf(snapshot).filter((m) => m.oee.oee !== null)) {
      const row = rowOf(table, machine.id);
      const { oee, availability, performance, quality } = machine.oee;
      const figures = [oee, availability, performance, quality].map((r) => percent(r!));
      assert.match(row, new RegExp(figures.map((f) => f.replace(".", "\\.")).join("\\s+")), `row of ${machine.id}: ${row}`);
      assert.ok(row.includes(machine.state), `row of ${machine.id} lacks its state ${machine.state}: ${row}`);
      assert.ok(row.includes(machine.goodParts.toLocaleString("en-US")), `row of ${machine.id} lacks its good parts: ${row}`);
    }
    assert.ok(table.includes(`OEE ${percent(snapshot.oee.oee!)}`), "the factory OEE is missing from the header");
    assert.ok(table.includes(snapshot.factory.name), "the factory name is missing");
  });

  it("writes — where a ratio has no data", () => {
    const table = renderTerminal(factorySnapshot(), { color: false });
    const row = rowOf(table, "cnc-02");
    assert.equal(row.match(/—/g)?.length, 4, `cnc-02 has no OEE, A, P nor Q, so four "—": ${row}`);
    assert.ok(!row.includes("%"), `cnc-02 must show no percentage: ${row}`);
  });

  it("shows the uplink DOWN and until when during an outage, and up otherwise", () => {
    const until = SNAPSHOT_AT + 45_000;
    const down = renderTerminal(duringOutage(factorySnapshot(), until), { color: false }).split("\n")[0]!;
    assert.ok(down.includes(`uplink DOWN until ${localClock(until)}`), down);
    const up = renderTerminal(factorySnapshot(), { color: false }).split("\n")[0]!;
    assert.ok(up.endsWith("uplink up"), up);
  });

  it("shows the gateways' backlog and the newest alerts, at most five", () => {
    const base = factorySnapshot();
    const older: AlertView[] = Array.from({ length: 6 }, (_, i) => ({
      id: `old-${i}`,
      kind: "raised",
      severity: "warning",
      lineId: "press-line-1",
      machineId: "press-03",
      gatewayId: "gw-press",
      subject: `old alert ${i}`,
      at: SNAPSHOT_AT - 600_000 - i * 1000,
    }));
    const table = renderTerminal({ ...base, alerts: [...base.alerts, ...older] }, { color: false });
    const gateway = rowOf(table, "gw-cnc");
    assert.match(gateway, /1,834\s+42\.5 s\s+310\.2\s+2\s+yes/);
    assert.ok(table.includes("fault held"), "the newest alert is missing");
    assert.ok(table.includes("old alert 1"), "the fifth newest alert is missing");
    assert.ok(!table.includes("old alert 2"), "the sixth newest alert must not be listed");
    assert.ok(table.includes("readings 184,512"), "the totals are missing");
  });

  it("fits every line in 100 columns with color off, even with long names", () => {
    const long = "x".repeat(140);
    let snapshot = withMachine(factorySnapshot(), "press-01", { id: `press-01-${long}`, name: long });
    const first = snapshot.alerts[0]!;
    snapshot = { ...snapshot, factory: { id: "factory-a", name: `Stuttgart ${long}` }, alerts: [{ ...first, subject: long }] };
    const table = renderTerminal(duringOutage(snapshot, SNAPSHOT_AT + 3_600_000), { color: false });
    for (const line of table.split("\n")) assert.ok(Array.from(line).length <= 100, `${Array.from(line).length} columns: ${line}`);
    assert.ok(table.includes("press-01-xxx"), "a long machine id is cut, not dropped");
    const narrow = renderTerminal(snapshot, { color: false, width: 60 });
    for (const line of narrow.split("\n")) assert.ok(Array.from(line).length <= 60, `${Array.from(line).length} columns at width 60: ${line}`);
  });

  it("writes ANSI colors only when asked and NO_COLOR is not set", () => {
    const snapshot = factorySnapshot();
    assert.ok(!renderTerminal(snapshot, { color: false }).includes(ESC), "color off must write no escape code");
    const colored = renderTerminal(snapshot, { color: true });
    assert.ok(colored.includes(`${ESC}[1;31mfault`), "a fault is shown in red");
    // eslint-disable-next-line no-control-regex -- stripping the escape codes the view writes
    const visible = colored.replace(/\u001b\[[0-9;]*m/g, "");
    assert.equal(visible, renderTerminal(snapshot, { color: false }), "colors change no character of the table");
    process.env["NO_COLOR"] = "1";
    assert.ok(!renderTerminal(snapshot, { color: true }).includes(ESC), "NO_COLOR must turn colors off");
  });

  it("keeps control characters in snapshot text away from the terminal", () => {
    const base = factorySnapshot();
    const snapshot = { ...base, factory: { ...base.factory, name: `evil${ESC}[2J\nname` } };
    const table = renderTerminal(snapshot, { color: false });
    assert.ok(!table.includes(ESC), "an escape sequence from the snapshot reached the output");
    assert.ok(table.split("\n")[0]!.includes("evil [2J name"), table.split("\n")[0]);
  });

  it("redraws in place on a terminal, hiding the cursor until stopped", () => {
    const out = new RecordingOut(true);
    const view = startTerminalView(new FakeSnapshotSource(), { out, intervalMs: 60_000 });
    view.stop();
    view.stop();
    const text = out.text;
    assert.ok(text.startsWith(`${ESC}[?25l`), "the cursor is hidden first");
    assert.ok(text.includes(`${ESC}[H`), "each frame starts at the top left");
    assert.ok(text.includes(`${ESC}[J`), "each frame clears what the previous one left below it");
    assert.ok(text.includes("press-02"), "the frame shows the machines");
    assert.ok(text.endsWith(`${ESC}[?25h`), "the cursor comes back on stop");
    assert.equal(text.split(`${ESC}[?25h`).length, 2, "the cursor is restored once, however often stop is called");
  });

  it("writes one plain summary line per interval when the output is a log", () => {
    const out = new RecordingOut(false);
    const source = new FakeSnapshotSource(duringOutage(factorySnapshot(), SNAPSHOT_AT + 45_000));
    const view = startTerminalView(source, { out, intervalMs: 60_000 });
    view.stop();
    assert.equal(out.chunks.length, 1);
    const line = out.chunks[0]!;
    assert.ok(!line.includes(ESC), "a log gets no escape codes");
    assert.equal(line, `${summaryLine(source.current)}\n`);
    assert.match(line, /factory-a OEE 69\.9% .*uplink DOWN until .*5 machines \(1 in fault\), buffered 1,834/);
  });
});
