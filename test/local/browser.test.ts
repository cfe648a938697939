import assert from "node:assert/strict";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { formatPercent } from "../../local/view/format";
import { startWebView, type WebView } from "../../local/view/web";
import { needs, systemTool } from "../harness/systemTools";
import { factorySnapshot, FakeSnapshotSource, machinesOf } from "../helpers/snapshots";

// Debian's Chromium (or a runner's Chrome): found or installed before the run, which stops with the install command
// when it can do neither; the test never skips, since the page would then be untested.
needs("chromium");

describe("local web view in a browser", () => {
  let browser: Browser;
  let context: BrowserContext | undefined;
  let page: Page;
  let source: FakeSnapshotSource;
  let view: WebView | undefined;
  let pageErrors: string[];

  before(async () => {
    // Chromium's sandbox refuses to start as root, which is how CI containers run.
    const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
    browser = await chromium.launch({ executablePath: systemTool("chromium"), args });
  });
  after(async () => {
    // `browser` is unset when the launch failed; the hook failure already says why.
    await (browser as Browser | undefined)?.close();
  });

  beforeEach(async () => {
    source = new FakeSnapshotSource();
    view = await startWebView(source);
    context = await browser.newContext();
    page = await context.newPage();
    pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      // A CSP violation or a failed request is logged as a console error.
      if (message.type() === "error") pageErrors.push(message.text());
    });
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
    await view?.close();
    view = undefined;
  });

  async function open(): Promise<void> {
    await page.goto(view!.url);
    // The script fills the OEE from the embedded snapshot; until then the element is empty.
    await page.waitForSelector('[data-testid="factory-oee"]:not(:empty)');
  }

  it("shows the factory's name and OEE, and every machine with its OEE as the snapshot has it", async () => {
    await open();
    const snapshot = source.current;
    assert.equal(await page.textContent('[data-testid="factory-name"]'), snapshot.factory.name);
    assert.equal(await page.textContent('[data-testid="factory-oee"]'), formatPercent(snapshot.oee.oee));
    assert.match((await page.textContent('[data-testid="uplink"]')) ?? "", /uplink up/);
    const rows = await page.locator("tr[data-machine]").count();
    assert.equal(rows, machinesOf(snapshot).length, "one row per machine");
    for (const machine of machinesOf(snapshot)) {
      const row = page.locator(`tr[data-machine="${machine.id}"]`);
      const shown = formatPercent(machine.oee.oee);
      assert.equal(await row.getAttribute("data-oee"), shown, `OEE of ${machine.id}`);
      assert.ok((await row.innerText()).includes(shown), `the row of ${machine.id} does not show ${shown}`);
      assert.equal(await row.locator('[data-testid="state"]').textContent(), machine.state, `state of ${machine.id}`);
    }
    assert.equal(await page.getAttribute('tr[data-machine="cnc-02"]', "data-oee"), "—", "no data reads —");
    assert.deepEqual(pageErrors, [], "the page logged errors");
  });

  it("draws the trends as SVG paths through the snapshot's points", async () => {
    await open();
    const trend = source.current.trend;
    const oeePoints = trend.filter((p) => p.factoryOee !== null).length;
    const series = page.locator('svg[data-testid="trend-oee"] path.series');
    assert.equal(await series.getAttribute("data-points"), String(oeePoints));
    const d = (await series.getAttribute("d")) ?? "";
    assert.match(d, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/, `the OEE path is not a polyline: ${d}`);
    assert.equal(d.split("L").length, oeePoints, "one path vertex per point with data");
    for (const testid of ["trend-readings", "trend-buffer"]) {
      assert.equal(await page.getAttribute(`svg[data-testid="${testid}"] path.series`, "data-points"), String(trend.length), testid);
    }
    for (const line of source.current.lines) {
      const d = await page.getAttribute(`svg[data-trend-line="${line.id}"] path.series`, "d");
      assert.match(d ?? "", /^M.+L/, `the sparkline of ${line.id} has no points`);
    }
  });

  it("follows the factory live: a machine's new state shows within seconds", async () => {
    await open();
    assert.equal(await page.getAttribute('tr[data-machine="press-02"]', "data-state"), "fault");
    source.setMachineState("press-02", "running");
    await page.waitForSelector('tr[data-machine="press-02"][data-state="running"]', { timeout: 10_000 });
    assert.equal(await page.textContent('tr[data-machine="press-02"] [data-testid="state"]'), "running");
    assert.equal(await page.getAttribute('[data-testid="connection"]', "data-mode"), "live", "the page follows the event stream");
  });

  it("falls back to polling the snapshot when the browser cannot follow the event stream", async () => {
    await page.addInitScript("delete window.EventSource;");
    await open();
    source.setMachineState("cnc-01", "fault");
    await page.waitForSelector('tr[data-machine="cnc-01"][data-state="fault"]', { timeout: 10_000 });
    assert.equal(await page.getAttribute('[data-testid="connection"]', "data-mode"), "polling");
  });

  it("shows snapshot text as text and runs none of it", async () => {
    const evil = '<img src="x" onerror="window.__xss = 1">';
    const base = factorySnapshot();
    const first = base.alerts[0]!;
    source.current = { ...base, factory: { ...base.factory, name: evil }, alerts: [{ ...first, subject: "<script>window.__xss = 2</script>" }] };
    await open();
    assert.equal(await page.textContent('[data-testid="factory-name"]'), evil);
    assert.equal(await page.textContent('[data-testid="alert-subject"]'), "<script>window.__xss = 2</script>");
    assert.equal(await page.locator("img").count(), 0, "an element from the snapshot was created");
    assert.equal(await page.evaluate("typeof window.__xss"), "undefined", "script from the snapshot ran");
  });
});
