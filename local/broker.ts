/**
 * The local factory's MQTT brokers, embedded (aedes), listening on 127.0.0.1 only:
 *
 * - the **cloud broker** stands in for AWS IoT Core: mutual TLS with the local CA (a client without a certificate
 *   the CA signed never gets a session), a gateway may connect only as its thing or its agent (`<thing>-agent`,
 *   `-agent-2` ...) and publish only its own pipeline topics, as the gateways' IoT policies say; every accepted
 *   publish is handed to the local rules router after the PUBACK, as IoT Core acknowledges before its rules run;
 * - the **sensor broker** stands in for each gateway's local broker (`gateways[].localBroker`): mutual TLS for the
 *   agents (they connect with their device identity, as on a gateway) and a plain listener for the simulator's
 *   sensors.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import * as fs from "node:fs";
import { isGatewayClientId, parseTopic, type FactoryId, type GatewayId, type ParsedTopic } from "@smart-factory/sdk";
import type { Aedes, AedesPublishPacket, AuthenticateError, Client } from "aedes" with { "resolution-mode": "import" };
import type { TlsFiles } from "./certificates";

/** What reached the cloud broker and may go to the rules. */
export interface CloudMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly clientId: string;
  readonly receivedAt: number;
}

/** A connection or publish the cloud broker refused, with why (what IoT Core's policy check would do). */
export interface Refusal {
  readonly at: number;
  readonly clientId: string;
  readonly reason: string;
}

/** A running broker. */
export interface LocalBroker {
  readonly port: number;
  readonly url: string;
  /** Client ids with a session now. */
  clients(): string[];
  close(): Promise<void>;
}

/** The cloud broker, with what it refused. */
export interface CloudBroker extends LocalBroker {
  readonly refusals: readonly Refusal[];
}

/** The sensor broker: TLS for the agents, plain TCP for the simulator. */
export interface SensorBroker extends LocalBroker {
  /** `mqtt://127.0.0.1:<port>`: the simulator publishes here. */
  readonly plainUrl: string;
}

const LOOPBACK = "127.0.0.1";

async function createAedes(options: Parameters<typeof Aedes.createBroker>[0]): Promise<Aedes> {
  // aedes 1.x is an ES module
  const { Aedes: AedesClass } = await import("aedes");
  return AedesClass.createBroker(options);
}

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, LOOPBACK, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : port);
    });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

function authError(message: string): AuthenticateError {
  const error = new Error(message) as AuthenticateError;
  // aedes answers CONNACK with this code; 5 is MQTT 3.1.1's "not authorized" (its AuthErrorCode is a const enum)
  Object.assign(error, { returnCode: 5 });
  return error;
}

/** The common name of the client certificate of `client`'s TLS connection, if any. */
function certificateName(client: Client): string | undefined {
  const socket = client.conn as unknown;
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/**
 * Whether a device certificate of thing `thing` (of factory `factoryId`) may connect as `clientId`: as the nucleus
 * (the thing name) or one of the agent's connections, as the gateway's IoT policy says.
 */
export function allowedClientId(factoryId: string, thing: string, clientId: string): boolean {
  if (!thing.startsWith(`${factoryId}-`)) return false;
  return isGatewayClientId(factoryId as FactoryId, thing.slice(factoryId.length + 1) as GatewayId, clientId);
}

function tlsOptions(files: TlsFiles): tls.TlsOptions {
  return {
    cert: fs.readFileSync(files.certificatePath),
    key: fs.readFileSync(files.privateKeyPath),
    ca: fs.readFileSync(files.caPath),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  };
}

/**
 * Start the cloud broker for factory `factoryId` on 127.0.0.1 (`port` 0: any free port). `onMessage` receives
 * every publish it accepted, after the client was acknowledged.
 */
export async function startCloudBroker(options: {
  readonly factoryId: string;
  readonly tls: TlsFiles;
  readonly port?: number;
  readonly onMessage: (message: CloudMessage) => void;
  readonly now?: () => number;
}): Promise<CloudBroker> {
  const now = options.now ?? Date.now;
  const refusals: Refusal[] = [];
  const refuse = (clientId: string, reason: string): void => {
    refusals.push({ at: now(), clientId, reason });
    if (refusals.length > 1000) refusals.shift();
  };
  const things = new Map<Client, string>();
  const broker = await createAedes({
    authenticate: (client, _username, _password, done) => {
      const thing = certificateName(client);
      if (thing === undefined) {
        refuse(client.id, "no client certificate");
        done(authError("a client certificate is required"), false);
        return;
      }
      if (!allowedClientId(options.factoryId, thing, client.id)) {
        refuse(client.id, `certificate of ${thing} may not connect as ${client.id}`);
        done(authError(`the certificate of ${thing} may connect as ${thing} or ${thing}-agent only`), false);
        return;
      }
      things.set(client, thing);
      done(null, true);
    },
    authorizePublish: (client, packet, callback) => {
      const thing = client === null ? undefined : things.get(client);
      let parsed: ParsedTopic;
      try {
        parsed = parseTopic(packet.topic);
      } catch (error) {
        refuse(client?.id ?? "?", (error as Error).message);
        callback(new Error(`publish to ${packet.topic} refused: not a pipeline topic`));
        return;
      }
      if (parsed.factoryId !== options.factoryId || parsed.thingName !== thing) {
        refuse(client?.id ?? "?", `${thing ?? "?"} may not publish to ${packet.topic}`);
        callback(new Error(`publish to ${packet.topic} refused: not this gateway's topic`));
        return;
      }
      callback(null);
    },
    // nobody subscribes on IoT Core's side of the box: the rules read every publish
    authorizeSubscribe: (client, subscription, callback) => {
      refuse(client.id, `subscribe to ${subscription.topic} refused`);
      callback(new Error("subscriptions are not allowed"));
    },
  });
  broker.on("clientDisconnect", (client) => {
    things.delete(client);
  });
  broker.on("publish", (packet: AedesPublishPacket, client: Client | null) => {
    if (client === null) return; // the broker's own $SYS messages
    options.onMessage({ topic: packet.topic, payload: Buffer.from(packet.payload), clientId: client.id, receivedAt: now() });
  });
  const server = tls.createServer(tlsOptions(options.tls), (socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  // a handshake a client gives up (an untrusted certificate) is that client's problem, not the broker's
  server.on("tlsClientError", (error) => {
    refuse("?", `TLS: ${error.message}`);
  });
  const port = await listen(server, options.port ?? 0);
  return {
    port,
    url: `mqtts://${LOOPBACK}:${port}`,
    refusals,
    clients: () => [...things.keys()].map((c) => c.id),
    close: async () => {
      await new Promise<void>((resolve) => {
        broker.close(() => {
          resolve();
        });
      });
      await closeServer(server);
    },
  };
}

/** Start the sensor broker: TLS (client certificates of the local CA) on one port, plain TCP on another, one broker. */
export async function startSensorBroker(options: { readonly tls: TlsFiles; readonly port?: number; readonly plainPort?: number }): Promise<SensorBroker> {
  const broker = await createAedes({});
  const clients = new Set<string>();
  broker.on("client", (client) => clients.add(client.id));
  broker.on("clientDisconnect", (client) => clients.delete(client.id));
  const secure = tls.createServer(tlsOptions(options.tls), (socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  secure.on("tlsClientError", () => undefined);
  const plain = net.createServer((socket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  });
  const port = await listen(secure, options.port ?? 0);
  const plainPort = await listen(plain, options.plainPort ?? 0);
  return {
    port,
    url: `mqtts://${LOOPBACK}:${port}`,
    plainUrl: `mqtt://${LOOPBACK}:${plainPort}`,
    clients: () => [...clients],
    close: async () => {
      await new Promise<void>((resolve) => {
        broker.close(() => {
          resolve();
        });
      });
      await Promise.all([closeServer(secure), closeServer(plain)]);
    },
  };
}
