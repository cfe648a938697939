import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { healthTopic, stateTopic, telemetryTopic, type FactoryId, type GatewayId, type LineId, type MachineId } from "@smart-factory/sdk";
import { allowedClientId, startCloudBroker, startSensorBroker, type CloudBroker, type CloudMessage } from "../../local/broker";
import { createLocalPki, type LocalPki, type TlsFiles } from "../../local/certificates";
import { startUplink } from "../../local/uplink";
import { Teardown } from "../helpers/teardown";
import { until } from "../helpers/until";

const FACTORY = "factory-a" as FactoryId;
const PRESS = "gw-press" as GatewayId;
const CNC = "gw-cnc" as GatewayId;

function connect(url: string, clientId: string, identity: TlsFiles | undefined, ca: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ca: fs.readFileSync(ca),
      ...(identity === undefined ? {} : { cert: fs.readFileSync(identity.certificatePath), key: fs.readFileSync(identity.privateKeyPath) }),
      rejectUnauthorized: true,
    });
    client.once("connect", () => {
      resolve(client);
    });
    client.once("error", (error) => {
      client.end(true);
      reject(error);
    });
    client.once("close", () => {
      reject(new Error("connection closed before CONNACK"));
    });
  });
}

function publish(client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: 1 }, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
}


describe("local: the box's PKI, brokers and uplink (127.0.0.1 only)", function () {
  this.timeout(30_000);
  let dir: string;
  let pki: LocalPki;
  let cloud: CloudBroker;
  const received: CloudMessage[] = [];
  const clients: MqttClient[] = [];

  const teardown = new Teardown();

  before(async () => {
    dir = teardown.directory("sf-local-pki-");
    pki = await createLocalPki(path.join(dir, "pki"), ["factory-a-gw-press", "factory-a-gw-cnc"]);
    cloud = teardown.add("the cloud broker", await startCloudBroker({ factoryId: FACTORY, tls: pki.broker, onMessage: (m) => received.push(m) }), (b) => b.close());
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.end(true);
  });
  after(() => teardown.run());

  it("makes a CA, the broker's certificate for 127.0.0.1 and one device certificate per gateway; keys are private to the user", async () => {
    assert.equal(fs.statSync(pki.dir).mode & 0o777, 0o700);
    const press = pki.devices.get("factory-a-gw-press");
    assert.ok(press);
    assert.equal(fs.statSync(press.privateKeyPath).mode & 0o777, 0o600);
    const cert = new crypto.X509Certificate(fs.readFileSync(press.certificatePath));
    assert.equal(cert.subject, "CN=factory-a-gw-press");
    assert.ok(cert.verify(new crypto.X509Certificate(pki.caCertificate).publicKey), "signed by the local CA");
    const broker = new crypto.X509Certificate(fs.readFileSync(pki.broker.certificatePath));
    assert.match(broker.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.ok(broker.checkIP("127.0.0.1"));
    await assert.rejects(createLocalPki(path.join(dir, "bad"), ["factory-a gw"]), /thing name "factory-a gw" is not a valid AWS IoT thing name/);
  });

  it("an agent with its device certificate publishes its own topics; the rules get the message with its client id", async () => {
    const agent = await connect(cloud.url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
    clients.push(agent);
    const before = received.length;
    await publish(agent, telemetryTopic(FACTORY, PRESS), Buffer.from([1, 2, 3]));
    await publish(agent, stateTopic(FACTORY, PRESS, "press-line-1" as LineId, "press-01" as MachineId), "{}");
    await publish(agent, healthTopic(FACTORY, PRESS), "{}");
    await until("three messages", () => received.length === before + 3);
    const [telemetry] = received.slice(before);
    assert.equal(telemetry?.topic, "$aws/rules/sf_factory_a_telemetry/sf/v1/factory-a/factory-a-gw-press/telemetry");
    assert.equal(telemetry.clientId, "factory-a-gw-press-agent");
    assert.deepEqual([...telemetry.payload], [1, 2, 3]);
    assert.deepEqual(cloud.clients(), ["factory-a-gw-press-agent"]);
  });

  it("refuses a device that connects as another gateway, and a client without a certificate", async () => {
    await assert.rejects(connect(cloud.url, "factory-a-gw-cnc-agent", pki.devices.get("factory-a-gw-press"), pki.caPath), /Not authorized|not authorized|closed/i);
    assert.ok(cloud.refusals.some((r) => r.clientId === "factory-a-gw-cnc-agent" && /certificate of factory-a-gw-press may not connect as factory-a-gw-cnc-agent/.test(r.reason)));
    await assert.rejects(connect(cloud.url, "anonymous", undefined, pki.caPath));
    assert.equal(allowedClientId("factory-a", "factory-a-gw-press", "factory-a-gw-press-agent-2"), true);
    assert.equal(allowedClientId("factory-a", "factory-a-gw-press", "factory-a-gw-press-agent-9"), false);
    assert.equal(allowedClientId("factory-a", "factory-b-gw-press", "factory-b-gw-press-agent"), false, "a device of another factory");
  });

  it("never hands the rules a publish to another gateway's topic, and closes that connection as IoT Core does", async () => {
    const agent = await connect(cloud.url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
    clients.push(agent);
    const before = received.length;
    const closed = new Promise<void>((resolve) => agent.once("close", () => {
      resolve();
    }));
    agent.publish(telemetryTopic(FACTORY, CNC), Buffer.from([9]), { qos: 1 });
    await closed;
    assert.ok(cloud.refusals.some((r) => /factory-a-gw-press may not publish to .*gw-cnc\/telemetry/.test(r.reason)));
    // the gateway's own topics still reach the rules on a new connection; the refused message never did
    const again = await connect(cloud.url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
    clients.push(again);
    await publish(again, healthTopic(FACTORY, PRESS), "{}");
    await until("the health message", () => received.length > before);
    assert.deepEqual(received.slice(before).map((m) => m.topic), [healthTopic(FACTORY, PRESS)]);
  });

  it("the sensor broker takes the agents over TLS with their device certificates and the simulator over plain TCP", async () => {
    const sensors = await startSensorBroker({ tls: pki.broker });
    try {
      const agent = await connect(sensors.url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
      clients.push(agent);
      const got = new Promise<string>((resolve) => {
        agent.on("message", (_topic, payload) => {
          resolve(payload.toString());
        });
      });
      await new Promise<void>((resolve, reject) => {
        agent.subscribe("sensors/press-01/oil", { qos: 1 }, (error) => {
          if (error) reject(error);
          else resolve();
        });
      });
      const simulator = await new Promise<MqttClient>((resolve, reject) => {
        const c = mqtt.connect(sensors.plainUrl, { clientId: "simulator", reconnectPeriod: 0 });
        c.once("connect", () => {
          resolve(c);
        });
        c.once("error", reject);
      });
      clients.push(simulator);
      await publish(simulator, "sensors/press-01/oil", '{"value":42}');
      assert.equal(await got, '{"value":42}');
    } finally {
      await sensors.close();
    }
  });

  it("the uplink relays to the broker, a cut drops the connections and refuses new ones, and a timed cut ends by itself", async () => {
    const uplink = await startUplink({ targetPort: cloud.port });
    try {
      const url = `mqtts://127.0.0.1:${uplink.port}`;
      const agent = await connect(url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
      clients.push(agent);
      const closed = new Promise<void>((resolve) => agent.once("close", () => {
        resolve();
      }));
      uplink.cut(400);
      assert.equal(uplink.up, false);
      assert.ok(uplink.downUntil !== null && uplink.downUntil > Date.now());
      await closed;
      await assert.rejects(connect(url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath));
      await until("the uplink back", () => uplink.up, 3000);
      const again = await connect(url, "factory-a-gw-press-agent", pki.devices.get("factory-a-gw-press"), pki.caPath);
      clients.push(again);
      assert.equal(uplink.downUntil, null);
      assert.throws(() => {
        uplink.cut(-1);
      }, /uplink cut forMs: expected a positive number of milliseconds, got -1/);
    } finally {
      await uplink.close();
    }
  });
});
