import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { startWebView, type WebView } from "../../local/view/web";
import { factorySnapshot, FakeSnapshotSource, withMachine } from "../helpers/snapshots";

/** Reads `url` as Server-Sent Events until `count` data events arrived, then hangs up; `onEvent` sees each as it comes. */
async function readEvents(url: string, count: number, onEvent: (index: number) => void = () => undefined): Promise<{ contentType: string | null; events: unknown[] }> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  assert.equal(res.status, 200);
  assert.ok(res.body, "the event stream has no body");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events: unknown[] = [];
  let buffer = "";
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended after ${events.length} events`);
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").find((l) => l.startsWith("data: "));
        if (data === undefined) continue;
        events.push(JSON.parse(data.slice("data: ".length)));
        onEvent(events.length - 1);
      }
    }
  } finally {
    abort.abort();
  }
  return { contentType: res.headers.get("content-type"), events };
}

/** A GET with an explicit Host header, which fetch does not let a caller set. */
function getWithHost(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/snapshot", headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("local web view", () => {
  let source: FakeSnapshotSource;
  let view: WebView | undefined;

  beforeEach(async () => {
    source = new FakeSnapshotSource();
    view = await startWebView(source);
  });
  afterEach(async () => {
    await view?.close();
    view = undefined;
  });

  it("listens on 127.0.0.1 and serves the snapshot as JSON, never cached", async () => {
    assert.match(view!.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(`${view!.url}api/snapshot`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), source.current);
  });

  it("serves a page that loads nothing from elsewhere and whose inline script its CSP allows", async () => {
    const res = await fetch(view!.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    assert.ok(!/https?:\/\//i.test(html), `the page names an absolute URL: ${/.{0,40}https?:\/\/.{0,40}/i.exec(html)?.[0] ?? ""}`);
    assert.ok(!/\bsrc\s*=/i.test(html), "the page loads a resource by src");
    assert.ok(!/@import|url\(/i.test(html), "the page's CSS loads a resource");
    for (const testid of ["factory-name", "factory-oee", "uplink", "trend-oee", "trend-readings", "trend-buffer", "lines", "gateways", "alerts", "totals"]) {
      assert.ok(html.includes(`data-testid="${testid}"`), `the page has no data-testid="${testid}"`);
    }
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
    assert.ok(script !== undefined, "the page has no inline script");
    const hash = createHash("sha256").update(script).digest("base64");
    assert.ok(res.headers.get("content-security-policy")?.includes(`'sha256-${hash}'`), "the CSP does not allow the page's own script");
  });

  it("answers 404 for an unknown path and 405 for a method other than GET", async () => {
    const missing = await fetch(`${view!.url}api/nothing`);
    assert.equal(missing.status, 404);
    await missing.text();
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await fetch(`${view!.url}api/snapshot`, { method });
      assert.equal(res.status, 405, `${method} /api/snapshot`);
      assert.equal(res.headers.get("allow"), "GET");
      await res.text();
    }
  });

  it("streams the snapshot as Server-Sent Events, the first at once, then the factory's changes", async () => {
    const first = await readEvents(`${view!.url}api/events`, 1);
    assert.match(first.contentType ?? "", /^text\/event-stream/);
    assert.deepEqual(first.events[0], source.current);

    const stateOfPress02 = (event: unknown): string | undefined =>
      (event as typeof source.current).lines[0]!.machines.find((m) => m.id === "press-02")?.state;
    const { events } = await readEvents(`${view!.url}api/events`, 2, (index) => {
      if (index === 0) source.setMachineState("press-02", "running");
    });
    assert.equal(stateOfPress02(events[0]), "fault");
    assert.equal(stateOfPress02(events[1]), "running");
  });

  it("closes while a browser still holds an event stream open", async () => {
    const abort = new AbortController();
    const res = await fetch(`${view!.url}api/events`, { signal: abort.signal });
    assert.equal(res.status, 200);
    await view!.close();
    view = undefined;
    abort.abort();
    await assert.rejects(fetch(res.url.replace("api/events", "api/snapshot")), "the server still answers after close");
  });

  it("refuses to listen anywhere but 127.0.0.1, and a request for another host name", async () => {
    await assert.rejects(startWebView(source, { host: "0.0.0.0" as "127.0.0.1" }), /host must be 127\.0\.0\.1.*"0\.0\.0\.0"/);
    await assert.rejects(startWebView(source, { port: 70000 }), /port .* got 70000/);
    // A page elsewhere that rebinds its DNS name to 127.0.0.1 sends its own name as Host.
    assert.equal(await getWithHost(view!.port, `attacker.example:${view!.port}`), 421);
    assert.equal(await getWithHost(view!.port, `localhost:${view!.port}`), 200);
  });

  it("never writes snapshot text into the page unescaped", async () => {
    const evil = "<script>alert(1)</script>";
    let snapshot = withMachine(factorySnapshot(), "press-01", { name: `"><img onerror=alert(1)>${evil}` });
    const first = snapshot.alerts[0]!;
    snapshot = { ...snapshot, factory: { ...snapshot.factory, name: evil }, alerts: [{ ...first, subject: `</script>${evil}<!--` }] };
    source.current = snapshot;
    const html = await (await fetch(view!.url)).text();
    assert.ok(!html.includes(evil), "a <script> from the snapshot reached the page");
    assert.ok(!html.includes("<img"), "an element from the snapshot reached the page");
    assert.equal(html.match(/<script\b/gi)?.length, 2, "the page has exactly its data block and its own script");
    const data = /<script type="application\/json" id="snapshot-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
    assert.ok(data !== undefined, "the page embeds no snapshot");
    assert.deepEqual(JSON.parse(data), snapshot, "the embedded snapshot must read back exactly");
  });
});
