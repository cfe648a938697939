/**
 * The web view of the factory in a box: a small `node:http` server on 127.0.0.1 serving the live page, the snapshot
 * as JSON and a Server-Sent Events stream of it. Loopback only: the view has no authentication, so it must not be
 * reachable from the network, and it checks the Host header so a web page elsewhere cannot reach it by DNS rebinding.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FactorySnapshot, SnapshotSource } from "../contracts";
import { PAGE_HASHES, renderPage } from "./page";

/** The only address the web view listens on. */
export const WEB_VIEW_HOST = "127.0.0.1";

/** How often `/api/events` pushes a snapshot. */
export const EVENTS_INTERVAL_MS = 1000;

/** Options of {@link startWebView}. */
export interface WebViewOptions {
  /** TCP port; 0 (the default) lets the system pick a free one, which the result's `port` and `url` give. */
  readonly port?: number;
  /** Must be `127.0.0.1` when given: any other address is refused. */
  readonly host?: "127.0.0.1";
}

/** A running web view. */
export interface WebView {
  /** `http://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly port: number;
  /** Ends the event streams and stops the server. Safe to call twice. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
} as const;

/** Only the page's own inline script and style may run, and it may only talk back to this server. */
const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${PAGE_HASHES.script}`,
  `style-src ${PAGE_HASHES.style}`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * Serves `source` on http://127.0.0.1:`port`/ until `close()`:
 * - `GET /`: the live page;
 * - `GET /api/snapshot`: the current {@link FactorySnapshot} as JSON, never cached;
 * - `GET /api/events`: Server-Sent Events, one `message` with the snapshot at once and then every second
 *   (an `event: problem` when the source fails);
 * - any other path 404, any other method 405.
 */
export async function startWebView(source: SnapshotSource, options: WebViewOptions = {}): Promise<WebView> {
  const host: string = options.host ?? WEB_VIEW_HOST;
  if (host !== WEB_VIEW_HOST) {
    throw new Error(`web view: host must be ${WEB_VIEW_HOST} (the view has no authentication, so it serves this machine only), got "${host}"`);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`web view: port must be an integer from 0 to 65535, got ${String(port)}`);
  }

  const streams = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let boundPort = port;

  // One timer feeds every open stream, so ten open tabs take one snapshot a second, not ten.
  const broadcast = (): void => {
    const event = snapshotEvent(source);
    for (const res of streams) res.write(event);
  };
  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
    });
    // The browser reconnects after 2 s if the stream breaks; the first snapshot goes out at once.
    res.write(`retry: 2000\n\n${snapshotEvent(source)}`);
    streams.add(res);
    timer ??= setInterval(broadcast, EVENTS_INTERVAL_MS);
    const forget = (): void => {
      streams.delete(res);
      if (streams.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    };
    req.on("close", forget);
    res.on("close", forget);
  };

  const server = createServer((req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (!hostAllowed(req.headers.host, boundPort)) {
        sendText(res, 421, `web view: unexpected Host header "${req.headers.host ?? ""}"; open http://${WEB_VIEW_HOST}:${boundPort}/\n`);
        return;
      }
      const route = ROUTES.has(url.pathname);
      if (!route) {
        sendText(res, 404, `web view: no page at ${url.pathname}\n`);
        return;
      }
      if (req.method !== "GET") {
        res.setHeader("Allow", "GET");
        sendText(res, 405, `web view: ${req.method ?? "?"} is not allowed on ${url.pathname}, only GET\n`);
        return;
      }
      switch (url.pathname) {
        case "/":
          send(res, 200, "text/html; charset=utf-8", renderPage(source.snapshot()), { "Content-Security-Policy": PAGE_CSP });
          return;
        case "/api/snapshot":
          send(res, 200, "application/json; charset=utf-8", JSON.stringify(source.snapshot()));
          return;
        default:
          openStream(req, res);
      }
    } catch (error) {
      // The source failed: say so (the page keeps its last figures and shows the problem) rather than drop the request.
      if (res.headersSent) {
        res.end();
        return;
      }
      send(res, 500, "application/json; charset=utf-8", JSON.stringify({ error: `the snapshot failed: ${messageOf(error)}` }));
    }
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new Error(`web view: cannot listen on ${WEB_VIEW_HOST}:${port}: ${error.code ?? error.message}`));
    };
    server.once("error", onError);
    server.listen(port, WEB_VIEW_HOST, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${WEB_VIEW_HOST}:${boundPort}/`,
    port: boundPort,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve, reject) => {
        if (timer !== undefined) clearInterval(timer);
        timer = undefined;
        for (const res of streams) res.end();
        streams.clear();
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
        // Idle keep-alive sockets (and event streams a client has not closed yet) would hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

const ROUTES = new Set(["/", "/api/snapshot", "/api/events"]);

/** One SSE event: the snapshot as a `message`, or an `event: problem` naming why there is none. */
function snapshotEvent(source: SnapshotSource): string {
  let snapshot: FactorySnapshot;
  try {
    snapshot = source.snapshot();
  } catch (error) {
    return `event: problem\ndata: ${JSON.stringify({ error: `the snapshot failed: ${messageOf(error)}` })}\n\n`;
  }
  // JSON.stringify escapes newlines inside strings, so the payload is one `data:` line.
  return `data: ${JSON.stringify(snapshot)}\n\n`;
}

/** Only requests addressed to this server by its loopback name: a rebound DNS name carries its own Host. */
function hostAllowed(hostHeader: string | undefined, port: number): boolean {
  if (hostHeader === undefined) return false;
  const value = hostHeader.toLowerCase();
  return value === `${WEB_VIEW_HOST}:${port}` || value === `localhost:${port}`;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    "Content-Type": contentType,
    "Cache-Control": "no-store",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  send(res, status, "text/plain; charset=utf-8", text);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
