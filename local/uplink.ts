/**
 * The factory's uplink in the box: a TCP relay on 127.0.0.1 between the edge agents and the cloud broker. Cutting
 * it drops every open connection and refuses new ones until it is restored, which is what a lost WAN link looks
 * like to an agent: its publishes stop being acknowledged, it buffers, it reconnects with back-off, it drains.
 */
import * as net from "node:net";

/** A running uplink. */
export interface Uplink {
  readonly port: number;
  /** Whether traffic passes. */
  readonly up: boolean;
  /** When a timed cut ends (epoch ms), else `null`. */
  readonly downUntil: number | null;
  /** Cut the link now; with `forMs`, restore it by itself after that long. */
  cut(forMs?: number): void;
  restore(): void;
  /** Connections relayed since start. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Relay 127.0.0.1:`port` (0: any free port) to 127.0.0.1:`targetPort`. */
export async function startUplink(options: { readonly targetPort: number; readonly port?: number; readonly now?: () => number }): Promise<Uplink> {
  const now = options.now ?? Date.now;
  const open = new Set<net.Socket>();
  let up = true;
  let downUntil: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let connections = 0;

  const server = net.createServer((inbound) => {
    if (!up) {
      // a link that is down: the connection goes nowhere
      inbound.destroy();
      return;
    }
    connections++;
    const outbound = net.connect(options.targetPort, "127.0.0.1");
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    open.add(inbound);
    open.add(outbound);
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
      open.delete(inbound);
      open.delete(outbound);
    };
    inbound.on("error", close);
    outbound.on("error", close);
    inbound.on("close", close);
    outbound.on("close", close);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });

  const restore = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    up = true;
    downUntil = null;
  };
  return {
    port,
    get up() {
      return up;
    },
    get downUntil() {
      return downUntil;
    },
    get connections() {
      return connections;
    },
    cut(forMs) {
      if (forMs !== undefined && !(Number.isFinite(forMs) && forMs > 0)) throw new RangeError(`uplink cut forMs: expected a positive number of milliseconds, got ${forMs}`);
      up = false;
      for (const socket of open) socket.destroy();
      open.clear();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      downUntil = null;
      if (forMs !== undefined) {
        downUntil = now() + forMs;
        timer = setTimeout(restore, forMs);
      }
    },
    restore,
    close: async () => {
      if (timer !== undefined) clearTimeout(timer);
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
