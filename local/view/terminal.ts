/**
 * The terminal view of the factory in a box: a compact table of the factory, its lines and machines, gateways,
 * the newest alerts and totals, redrawn in place on a terminal and reduced to one summary line per interval when the
 * output is a log (CI, a pipe), so logs stay readable. Colors are plain ANSI codes, off when `NO_COLOR` is set.
 */
import type { AlertView, FactorySnapshot, GatewayView, LineView, MachineView, OeeFigures, SnapshotSource } from "../contracts";
import { formatClock, formatCount, formatDecimal, formatDuration, formatPercent, formatUplink, NO_DATA } from "./format";

/** The widest the table is laid out for; a narrower width clips every line. */
export const TERMINAL_WIDTH = 100;

/** How many of the newest alerts the table lists. */
export const TERMINAL_ALERTS = 5;

/** Options of {@link renderTerminal}. */
export interface RenderOptions {
  /** Columns the output must fit (default and maximum {@link TERMINAL_WIDTH}). */
  readonly width?: number;
  /** Color states and the uplink with ANSI codes (default off; always off when `NO_COLOR` is set). */
  readonly color?: boolean;
}

/** Where {@link startTerminalView} writes: `process.stdout` or any stream with the same few members. */
export interface TerminalOut {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
  write(chunk: string): boolean;
}

/** Options of {@link startTerminalView}. */
export interface TerminalViewOptions {
  /** Time between redraws (default 1000 ms). */
  readonly intervalMs?: number;
  /** Where to draw (default `process.stdout`). */
  readonly out?: NodeJS.WriteStream | TerminalOut;
}

/** A running terminal view. */
export interface TerminalView {
  /** Stops redrawing and gives the cursor back. Safe to call twice. */
  stop(): void;
}

const ESC = "\u001b[";
const RESET = `${ESC}0m`;
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;
const HOME = `${ESC}H`;
const CLEAR_LINE_RIGHT = `${ESC}K`;
const CLEAR_BELOW = `${ESC}J`;

/** SGR parameters per state: the eye finds a red fault among green runners faster than it reads words. */
const STATE_STYLE: Readonly<Record<MachineView["state"], string>> = {
  running: "32",
  idle: "33",
  fault: "1;31",
  plannedStop: "36",
  unknown: "2",
};

/** Column widths of the line and machine rows; they add up to 95 columns with the separating spaces. */
const COL = { indent: 4, id: 18, state: 12, ratio: 7, good: 10, bad: 8, alerts: 7 } as const;

/**
 * The snapshot as a table that fits `options.width` columns (at most {@link TERMINAL_WIDTH}): the factory header,
 * each line with its machines, the gateways, the {@link TERMINAL_ALERTS} newest alerts and the totals. Lines are
 * separated by `\n`, without a trailing one.
 */
export function renderTerminal(snapshot: FactorySnapshot, options: RenderOptions = {}): string {
  const width = checkWidth(options.width ?? TERMINAL_WIDTH);
  const paint = painter(options.color === true && !noColorRequested());
  const out: string[] = [];

  // Header: who, how long, how fast, and whether the agents can reach the cloud at all.
  const right = `  uptime ${formatDuration(snapshot.at - snapshot.startedAt)}  speed x${formatSpeed(snapshot.speed)}  uplink `;
  const uplink = formatUplink(snapshot.uplink);
  const title = clipPlain(`${snapshot.factory.name} (${snapshot.factory.id})`, Math.max(1, width - right.length - uplink.length));
  out.push(paint("1", title) + right + paint(snapshot.uplink.up ? "32" : "1;31", uplink));
  out.push(
    `${paint("1", `OEE ${formatPercent(snapshot.oee.oee)}`)}  ${apq(snapshot.oee)}  alerts ${formatCount(snapshot.activeAlerts)} active  at ${formatClock(snapshot.at)}`,
  );
  out.push("");

  out.push(
    paint(
      "1",
      row([
        [COL.indent + COL.id, "LINE / MACHINE", "left"],
        [COL.state, "STATE", "left"],
        [COL.ratio, "OEE"],
        [COL.ratio, "A"],
        [COL.ratio, "P"],
        [COL.ratio, "Q"],
        [COL.good, "GOOD"],
        [COL.bad, "BAD"],
        [COL.alerts, "ALERTS"],
      ]).slice(1),
    ),
  );
  for (const line of snapshot.lines) {
    out.push(paint("1", lineRow(line)));
    for (const machine of line.machines) out.push(machineRow(machine, paint));
  }
  if (snapshot.lines.length === 0) out.push("  (no lines configured)");
  out.push("");

  out.push(
    paint(
      "1",
      row([
        [2 + COL.id, "GATEWAY", "left"],
        [10, "BUFFER"],
        [14, "OLDEST UNSENT"],
        [12, "PUBLISHED/S"],
        [13, "DEAD LETTERS"],
        [10, "CONNECTED"],
      ]).slice(1),
    ),
  );
  for (const gateway of snapshot.gateways) out.push(gatewayRow(gateway, paint));
  if (snapshot.gateways.length === 0) out.push("  (no gateway has reported yet)");
  out.push("");

  const newest = snapshot.alerts.slice(0, TERMINAL_ALERTS);
  out.push(paint("1", `ALERTS  ${formatCount(snapshot.activeAlerts)} active, ${formatCount(snapshot.totals.notifications)} notifications`));
  for (const alert of newest) out.push(alertRow(alert, width, paint));
  if (newest.length === 0) out.push("  (none yet)");
  out.push("");

  const t = snapshot.totals;
  out.push(
    `${paint("1", "TOTALS")}  readings ${formatCount(t.readingsWritten)}  state events ${formatCount(t.stateEvents)}  ` +
      `notifications ${formatCount(t.notifications)}  dead letters cloud ${formatCount(t.cloudDeadLetters)} / edge ${formatCount(t.edgeDeadLetters)}`,
  );

  return out.map((l) => clip(l, width)).join("\n");
}

/**
 * One line that sums the snapshot up, for logs: the time, factory OEE with A/P/Q, the uplink, machines in fault,
 * the agents' backlog, readings written and active alerts.
 */
export function summaryLine(snapshot: FactorySnapshot): string {
  const machines = snapshot.lines.flatMap((l) => l.machines);
  const faults = machines.filter((m) => m.state === "fault").length;
  const backlog = snapshot.gateways.reduce((sum, g) => sum + g.bufferDepth, 0);
  return (
    `[${formatClock(snapshot.at)}] ${snapshot.factory.id} OEE ${formatPercent(snapshot.oee.oee)} (${apq(snapshot.oee)}) ` +
    `uplink ${formatUplink(snapshot.uplink)}, ${formatCount(machines.length)} machines (${formatCount(faults)} in fault), ` +
    `buffered ${formatCount(backlog)}, readings ${formatCount(snapshot.totals.readingsWritten)}, alerts ${formatCount(snapshot.activeAlerts)} active`
  );
}

/**
 * Shows `source` on `options.out` every `options.intervalMs`, starting now. On a terminal (`out.isTTY`) the table is
 * redrawn in place with the cursor hidden; anywhere else one {@link summaryLine} is written per interval.
 */
export function startTerminalView(source: SnapshotSource, options: TerminalViewOptions = {}): TerminalView {
  const intervalMs = options.intervalMs ?? 1000;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new Error(`terminal view: intervalMs must be a positive number of milliseconds, got ${String(intervalMs)}`);
  }
  const out: TerminalOut = options.out ?? process.stdout;
  const tty = out.isTTY === true;

  const draw = (): void => {
    let snapshot: FactorySnapshot;
    try {
      snapshot = source.snapshot();
    } catch (error) {
      // A failing source must not end the process from inside a timer; the next tick tries again.
      const message = `terminal view: the snapshot failed: ${error instanceof Error ? error.message : String(error)}`;
      out.write(tty ? `${HOME}${message}${CLEAR_LINE_RIGHT}\n${CLEAR_BELOW}` : `${message}\n`);
      return;
    }
    if (!tty) {
      out.write(`${summaryLine(snapshot)}\n`);
      return;
    }
    const width = Math.min(TERMINAL_WIDTH, out.columns !== undefined && out.columns > 0 ? out.columns : TERMINAL_WIDTH);
    let lines = renderTerminal(snapshot, { width, color: true }).split("\n");
    // A frame taller than the screen scrolls it, and "cursor home" would then redraw below the old frame.
    if (out.rows !== undefined && out.rows > 1 && lines.length > out.rows - 1) lines = lines.slice(0, out.rows - 1);
    out.write(`${HOME}${lines.map((l) => l + CLEAR_LINE_RIGHT).join("\n")}\n${CLEAR_BELOW}`);
  };

  // The cursor must come back even when the process ends without calling stop (an uncaught error, process.exit).
  const restoreCursor = (): void => {
    out.write(SHOW_CURSOR);
  };
  if (tty) {
    out.write(HIDE_CURSOR);
    process.once("exit", restoreCursor);
  }
  draw();
  const timer = setInterval(draw, intervalMs);
  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (tty) {
        process.removeListener("exit", restoreCursor);
        restoreCursor();
      }
    },
  };
}

// ------------------------------------------------------------------------------------------------------- rows

type Paint = (style: string, text: string) => string;
type Cell = readonly [width: number, text: string, align?: "left" | "right"];

function lineRow(line: LineView): string {
  const good = line.machines.reduce((sum, m) => sum + m.goodParts, 0);
  const bad = line.machines.reduce((sum, m) => sum + m.badParts, 0);
  const alerts = line.machines.reduce((sum, m) => sum + m.activeAlerts, 0);
  return row([
    [COL.indent + COL.id + 1 + COL.state, `${line.id}  ${line.name}`, "left"],
    ...ratioCells(line.oee),
    [COL.good, formatCount(good)],
    [COL.bad, formatCount(bad)],
    [COL.alerts, formatCount(alerts)],
  ]).slice(1);
}

function machineRow(machine: MachineView, paint: Paint): string {
  // Cells are padded before they are painted, so escape codes never shift the columns after them.
  const id = row([[COL.indent + COL.id, `    ${machine.id}`, "left"]]).slice(1);
  const state = paint(STATE_STYLE[machine.state], fit(machine.state, COL.state, "left"));
  const figures = row([...ratioCells(machine.oee), [COL.good, formatCount(machine.goodParts)], [COL.bad, formatCount(machine.badParts)]]);
  const alerts = fit(formatCount(machine.activeAlerts), COL.alerts);
  return `${id} ${state}${figures} ${machine.activeAlerts > 0 ? paint("1;31", alerts) : alerts}`;
}

function gatewayRow(gateway: GatewayView, paint: Paint): string {
  const cells = row([
    [2 + COL.id, `  ${gateway.id}`, "left"],
    [10, formatCount(gateway.bufferDepth)],
    [14, gateway.oldestUnsentSeconds === null ? NO_DATA : `${formatDecimal(gateway.oldestUnsentSeconds)} s`],
    [12, formatDecimal(gateway.publishedPerSecond)],
    [13, formatCount(gateway.deadLetters)],
  ]).slice(1);
  const connected = fit(gateway.connected ? "yes" : "NO", 10);
  return `${cells} ${paint(gateway.connected ? "32" : "1;31", connected)}`;
}

function alertRow(alert: AlertView, width: number, paint: Paint): string {
  const subject = alert.machineId ?? alert.gatewayId ?? alert.lineId ?? NO_DATA;
  const head = `  ${formatClock(alert.at)}  `;
  const kind = paint(alert.kind === "raised" ? "1;31" : "32", fit(alert.kind, 7, "left"));
  const rest = `  ${fit(alert.severity, 8, "left")}  ${fit(subject, 14, "left")}  `;
  const room = Math.max(1, width - head.length - 7 - rest.length);
  return head + kind + rest + clipPlain(alert.subject, room);
}

function ratioCells(figures: OeeFigures): Cell[] {
  return [
    [COL.ratio, formatPercent(figures.oee)],
    [COL.ratio, formatPercent(figures.availability)],
    [COL.ratio, formatPercent(figures.performance)],
    [COL.ratio, formatPercent(figures.quality)],
  ];
}

/** Cells padded to their widths, each preceded by one space (callers drop the first when a row starts with one). */
function row(cells: readonly Cell[]): string {
  return cells.map(([width, text, align]) => ` ${fit(text, width, align ?? "right")}`).join("");
}

function apq(figures: OeeFigures): string {
  return `A ${formatPercent(figures.availability)}  P ${formatPercent(figures.performance)}  Q ${formatPercent(figures.quality)}`;
}

function formatSpeed(speed: number): string {
  return Number.isInteger(speed) ? speed.toString() : speed.toFixed(1);
}

// ------------------------------------------------------------------------------------------------------- text

/** `text` clipped (with an ellipsis) or padded to exactly `width` columns. */
function fit(text: string, width: number, align: "left" | "right" = "right"): string {
  const clipped = clipPlain(text, width);
  const padding = " ".repeat(Math.max(0, width - columns(clipped)));
  return align === "left" ? clipped + padding : padding + clipped;
}

/**
 * Plain `text` cut to `width` columns, the last one an ellipsis when anything was cut. Control characters become
 * spaces: a name or subject holding an escape sequence or a newline must not move the cursor or break the table.
 */
function clipPlain(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const chars = Array.from(text.replace(/[\u0000-\u001f\u007f]/g, " "));
  if (chars.length <= width) return chars.join("");
  return `${chars.slice(0, Math.max(0, width - 1)).join("")}…`;
}

/** A rendered line cut to `width` visible columns; escape codes do not count, and a cut line ends with a reset. */
function clip(line: string, width: number): string {
  // eslint-disable-next-line no-control-regex -- the escape sequences this module itself writes
  const parts = line.split(/(\u001b\[[0-9;?]*[A-Za-z])/);
  let visible = 0;
  for (let i = 0; i < parts.length; i += 2) visible += columns(parts[i] ?? "");
  if (visible <= width) return line;
  let result = "";
  let used = 0;
  let styled = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? "";
    if (i % 2 === 1) {
      result += part;
      styled = part !== RESET;
      continue;
    }
    const chars = Array.from(part);
    const room = width - 1 - used;
    if (chars.length <= room) {
      result += part;
      used += chars.length;
      continue;
    }
    result += `${chars.slice(0, room).join("")}…`;
    break;
  }
  return styled ? result + RESET : result;
}

function columns(text: string): number {
  return Array.from(text).length;
}

function painter(enabled: boolean): Paint {
  return enabled ? (style, text) => `${ESC}${style}m${text}${RESET}` : (_style, text) => text;
}

/** The `NO_COLOR` convention (no-color.org): present and not empty turns color off whatever the caller asked. */
function noColorRequested(): boolean {
  const value = process.env["NO_COLOR"];
  return value !== undefined && value !== "";
}

function checkWidth(width: number): number {
  if (!Number.isInteger(width) || width < 20) {
    throw new Error(`terminal view: width must be an integer of at least 20 columns, got ${String(width)}`);
  }
  return Math.min(width, TERMINAL_WIDTH);
}
