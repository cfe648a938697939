/**
 * The end-to-end test: factory A in a box (simulator -> real edge agents -> mutual-TLS broker -> local rules ->
 * real enrichment and detector handlers), at 60 times real speed, with injected faults, malformed and out-of-range
 * input and an uplink outage; then checks OEE against the simulator's ground truth, the alerts, and that nothing
 * was lost or dead-lettered but what was injected.
 */
import { strict as assert } from "node:assert";
import { machineCounters, oeeOf, type MachineStateEvent, type OeeRatios } from "@smart-factory/sdk";
import { startFactoryBox, type FactoryBox } from "../../local/box";
import { truthEvents, type GroundTruth } from "../../local/groundTruth";
import { Teardown } from "../helpers/teardown";
import { sleep, until } from "../helpers/until";

/** The box runs the factory this much faster than real time. */
const SPEED = 60;
/**
 * OEE tolerance: 0.01 absolute, plus one part's worth (its ideal time over the run or planned time for performance
 * and OEE, one part over all parts for quality), per machine and ratio: the pipeline's OEE (from the state messages the agents derived
 * from the PLC registers they sampled, through the broker and the rules into the local twin) against the OEE of
 * the simulator's own record of every state change and part (the ground truth), over the same span: from the
 * first state message a second after the machine's first (the agent's counter baselines are read by then; every
 * message carries all parts counted up to its time) to the simulator's stop (the simulator shows its final registers
 * for a second before its server goes, and the agents send the part counts they gathered, stamped with the counters'
 * times). They may differ by a part made in the very scan of a state change, which each side may give the other
 * state.
 */
const OEE_TOLERANCE = 0.01;
const FAULTED = "press-03";
const OUTAGE_MS = 15_000;
/** How often the test looks at the box while waiting: a snapshot computes every machine's OEE, so not too often. */
const POLL_MS = 250;

/** Parts of `events` in (from, at]. */
function partsBy(events: readonly MachineStateEvent[], from: number, at: number): number {
  return events.reduce((n, e) => (e.timestamp > from && e.timestamp <= at ? n + e.goodIncrement + e.badIncrement : n), 0);
}

/**
 * Where the pipeline's part count and the truth's first part by more than one part, for a failure message: at the
 * pipeline's message times, the two running totals from the span's start, and the states around that time.
 */
function whereApart(pipeline: readonly MachineStateEvent[], truth: readonly MachineStateEvent[], span: { from: number; to: number }): string {
  const times = [...pipeline.map((e) => e.timestamp), span.to].filter((t) => t > span.from && t <= span.to);
  for (const at of times) {
    const [p, t] = [partsBy(pipeline, span.from, at), partsBy(truth, span.from, at)];
    if (Math.abs(p - t) > 1) {
      const near = truth.filter((e) => e.timestamp > at - 3000 && e.timestamp <= at).map((e) => `${e.state}+${e.goodIncrement + e.badIncrement}@${e.timestamp - span.from}`);
      return `${p} vs ${t} parts ${((at - span.from) / 1000).toFixed(1)} s into the span (${new Date(at).toISOString()}); truth in the 3 s before: ${near.join(" ")}`;
    }
  }
  return "the running totals never part by more than one";
}

describe("end to end: factory A in a box, at 60x", function () {
  this.timeout(300_000);
  let box: FactoryBox;
  let truth: GroundTruth;
  let outOfRange: { machineId: string; tag: string };

  const teardown = new Teardown();

  before(async () => {
    box = teardown.add("the factory box", await startFactoryBox({ stack: "factory-a", speed: SPEED, seed: 7, randomFaults: false, healthIntervalMs: 1000 }), (b) => b.stop());
    await until("every machine's first state in the cloud", () => box.snapshot().lines.every((l) => l.machines.every((m) => m.state !== "unknown")), 30_000, POLL_MS);

    // faults: one machine held in fault for 6 s of wall-clock time (6 minutes of factory time)
    box.simulator.injectFault(FAULTED, 6000);
    // bad input: two sensor payloads that are no sensor messages, one value out of its tag's range
    await box.simulator.injectMalformedSensorPayload(undefined, "notJson");
    await box.simulator.injectMalformedSensorPayload(undefined, "wrongType");
    const machine = box.config.lines[1]?.machines[0];
    assert.ok(machine);
    const tag = Object.keys(machine.tags)[0];
    assert.ok(tag);
    outOfRange = { machineId: machine.id, tag };
    await box.simulator.injectOutOfRange(machine.id, tag);

    await sleep(8000);
    box.outage(OUTAGE_MS);
    await sleep(OUTAGE_MS + 10_000);

    // stop producing, then wait until every accepted reading and state left the buffers and the rules are done
    await box.simulator.stop();
    truth = box.simulator.truth();
    await until(
      "the agents' gathered part counts and buffers to drain",
      // the part counts of the last second before the stop are still gathered in the agents (for the count
      // interval) when their buffers are already empty: without them a machine's OEE misses its last parts
      () => box.agents.every((a) => {
        const s = a.store.stats();
        return a.gatheredParts() === 0 && s.readings === 0 && s.pendingBatches === 0 && s.stateMessages === 0;
      }) && box.pendingMessages() === 0,
      60_000,
      POLL_MS,
    );
  });

  after(async () => {
    // `box` is unset when the box did not start: the hook's failure says why, and there is nothing to report
    if ((box as FactoryBox | undefined) !== undefined) {
      const accepted = box.agents.reduce((n, a) => n + a.intake.counters().acceptedReadings, 0);
      const raised = box.cloud.alerts().filter((a) => a.kind === "raised").length;
      const stateMessages = box.cloud.twin.stateEvents();
      console.log(`      e2e: ${accepted} readings accepted, ${box.cloud.readingCount()} written; ${stateMessages} state messages; ${raised} alerts raised; ${Math.round((Date.now() - box.cloud.startedAt) / 1000)} s`);
    }
    await teardown.run();
  });

  it("loses no reading across the outage: every reading the agents accepted is in the telemetry store", () => {
    const counters = box.agents.map((a) => a.intake.counters());
    const accepted = counters.reduce((n, c) => n + c.acceptedReadings, 0);
    assert.deepEqual(counters.map((c) => c.droppedByStore + c.rejectedByStore), [0, 0], "the buffers dropped nothing");
    assert.ok(accepted > 1000, `${accepted} readings`);
    assert.equal(box.cloud.readingCount(), accepted);
    assert.deepEqual(box.cloud.failures(), []);
    const published = box.agents.reduce((n, a) => n + a.publisher.status().publishedReadings, 0);
    assert.equal(published, accepted, "each reading was published once (a re-send after a lost PUBACK would be counted once by the cloud)");
  });

  it("dead-letters only the malformed and out-of-range input it was given, at the edge, with reasons; the cloud dead-letters nothing", () => {
    const letters = box.agents.flatMap((a) => a.store.listDeadLetters(100));
    assert.equal(letters.length, 3, letters.map((l) => l.reason).join("; "));
    assert.equal(letters.filter((l) => /json|JSON|sensor message|value/i.test(l.reason)).length >= 2, true, letters.map((l) => l.reason).join("; "));
    assert.ok(letters.some((l) => l.reason.includes(outOfRange.tag) || l.item.includes(outOfRange.tag)), "the out-of-range reading");
    assert.deepEqual([...box.cloud.deadLetters().keys()], []);
  });

  it("OEE per machine equals the ground truth's within 0.01 and one part", () => {
    const rates = new Map(box.cloud.compressed.lines.flatMap((l) => l.machines.map((m) => [m.id as string, m.idealRunRate])));
    const worst: string[] = [];
    for (const machine of Object.values(truth.machines)) {
      const events = box.cloud.twin.events(machine.machineId);
      const initial = events[0];
      assert.ok(initial, `${machine.machineId} has state events in the cloud`);
      // a message at least a second after the first (the counters' baseline is read by then): it carries every
      // part counted up to its own time, so both sides have counted the same parts at that instant
      const from = events.find((e) => e.timestamp >= initial.timestamp + 1000)?.timestamp ?? initial.timestamp + 1000;
      const span = { from, to: truth.stoppedAt ?? Date.now() };
      assert.ok(span.to - span.from > 10_000, `${machine.machineId}: a span of more than 10 s`);
      const rate = rates.get(machine.machineId) ?? 0;
      const counted = machineCounters(events, span, rate);
      const truthCounters = machineCounters(truthEvents(machine), span, rate);
      const pipeline = oeeOf(counted);
      const ground = oeeOf(truthCounters);
      // one part either way: a slow machine makes few parts in a minute of wall-clock time
      const partSeconds = 60 / rate;
      const onePart: Record<keyof OeeRatios, number> = {
        availability: 0,
        performance: partSeconds / Math.max(truthCounters.runSeconds, 1),
        quality: 1 / Math.max(truthCounters.goodCount + truthCounters.badCount, 1),
        oee: partSeconds / Math.max(truthCounters.plannedSeconds, 1),
      };
      for (const ratio of ["availability", "performance", "quality", "oee"] as const satisfies readonly (keyof OeeRatios)[]) {
        const a = pipeline[ratio];
        const b = ground[ratio];
        assert.equal(a === undefined, b === undefined, `${machine.machineId} ${ratio}: ${String(a)} vs ${String(b)}`);
        if (a !== undefined && b !== undefined && Math.abs(a - b) > OEE_TOLERANCE + onePart[ratio]) {
          worst.push(`${machine.machineId} ${ratio} ${a.toFixed(4)} vs truth ${b.toFixed(4)} (parts ${counted.goodCount + counted.badCount} vs ${truthCounters.goodCount + truthCounters.badCount}; ${whereApart(events, truthEvents(machine), span)})`);
        }
      }
    }
    assert.deepEqual(worst, []);
  });

  it("raises an alert for the injected fault and for the cut uplink, and for nothing else; each is cleared", () => {
    const alerts = box.cloud.alerts();
    const raised = alerts.filter((a) => a.kind === "raised");
    const machines = new Set(raised.map((a) => a.machineId).filter((m): m is string => m !== null));
    assert.deepEqual([...machines], [FAULTED], raised.map((a) => `${a.machineId ?? a.gatewayId ?? "?"}: ${a.subject}`).join("; "));
    assert.ok(raised.some((a) => a.machineId === FAULTED && /fault/i.test(a.subject)));
    const gateways = new Set(raised.filter((a) => a.machineId === null).map((a) => a.gatewayId));
    assert.deepEqual([...gateways].sort(), ["gw-cnc", "gw-press"], "the uplink-down alerts of both gateways");
    for (const alert of raised) {
      assert.ok(
        alerts.some((c) => c.kind === "cleared" && c.machineId === alert.machineId && c.gatewayId === alert.gatewayId && c.at >= alert.at),
        `${alert.subject} is cleared`,
      );
    }
    assert.equal(truth.faults.length, 1, "the simulator made no fault of its own");
  });
});
