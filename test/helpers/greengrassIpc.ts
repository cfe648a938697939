/**
 * A stand-in for the Greengrass nucleus's IPC service, enough for the agent's secret reads: eventstream RPC over a
 * Unix domain socket (the transport a component gets through AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT),
 * the connect/connect-ack handshake checking the component's SVCUID token, and the secret manager's
 * `aws.greengrass#GetSecretValue` operation with the service's modelled errors. Messages are framed with
 * Smithy's eventstream codec, so the official client (aws-iot-device-sdk-v2 over aws-crt) talks to it as to the
 * real nucleus.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { EventStreamCodec, type Message, type MessageHeaders } from "@smithy/core/event-streams";

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8"),
  (text: string) => new Uint8Array(Buffer.from(text, "utf8")),
);

/** Eventstream RPC message types and flags (aws-c-event-stream). */
const TYPE = { applicationMessage: 0, applicationError: 1, ping: 2, pingResponse: 3, connect: 4, connectAck: 5 } as const;
const FLAG = { connectionAccepted: 1, terminateStream: 2 } as const;

export interface IpcCall {
  readonly operation: string;
  readonly secretId: string | undefined;
}

export interface FakeNucleusIpc {
  readonly socketPath: string;
  readonly authToken: string;
  /** Secret strings by id (ARN); a secret not here is ResourceNotFoundError. */
  readonly secrets: Map<string, string>;
  /** Secret ids the component is not authorised for (UnauthorizedError). */
  readonly denied: Set<string>;
  readonly calls: IpcCall[];
  /** The component configuration GetConfiguration serves (the whole document; keyPath selects inside it). */
  configuration: Record<string, unknown>;
  /** Connections refused for a wrong token. */
  refusedConnects: number;
  /** The environment Greengrass gives a component. */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

function header(message: Message, name: string): string | number | undefined {
  const h = message.headers[name];
  if (h === undefined) return undefined;
  return h.type === "string" || h.type === "integer" ? h.value : undefined;
}

function encode(type: number, flags: number, streamId: number, extra: MessageHeaders, payload: unknown): Buffer {
  const headers: MessageHeaders = {
    ":message-type": { type: "integer", value: type },
    ":message-flags": { type: "integer", value: flags },
    ":stream-id": { type: "integer", value: streamId },
    ...extra,
  };
  const body = payload === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(JSON.stringify(payload), "utf8"));
  return Buffer.from(codec.encode({ headers, body }));
}

function json(shape: string): MessageHeaders {
  return { "service-model-type": { type: "string", value: shape }, "content-type": { type: "string", value: "application/json" } };
}

/** Start the fake IPC service on a fresh socket in a temporary folder. */
export async function startFakeNucleusIpc(options: { authToken?: string } = {}): Promise<FakeNucleusIpc> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sf-ipc-"));
  const socketPath = path.join(dir, "ipc.socket");
  const authToken = options.authToken ?? "svcuid-test-token";
  const sockets = new Set<net.Socket>();
  const fake: FakeNucleusIpc = {
    socketPath,
    authToken,
    secrets: new Map(),
    denied: new Set(),
    calls: [],
    configuration: {},
    refusedConnects: 0,
    env: () => ({ AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT: socketPath, SVCUID: authToken }),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  const handle = (socket: net.Socket, message: Message): void => {
    const type = header(message, ":message-type");
    const streamId = Number(header(message, ":stream-id") ?? 0);
    if (type === TYPE.ping) {
      socket.write(encode(TYPE.pingResponse, 0, 0, {}, undefined));
      return;
    }
    if (type === TYPE.connect) {
      let token: unknown;
      try {
        token = (JSON.parse(Buffer.from(message.body).toString("utf8")) as { authToken?: unknown }).authToken;
      } catch {
        token = undefined;
      }
      if (token === authToken) socket.write(encode(TYPE.connectAck, FLAG.connectionAccepted, 0, {}, undefined));
      else {
        fake.refusedConnects++;
        socket.write(encode(TYPE.connectAck, 0, 0, {}, undefined));
        socket.end();
      }
      return;
    }
    if (type !== TYPE.applicationMessage || streamId === 0) return;
    const operation = String(header(message, "operation") ?? "");
    if (operation === "") return; // a stream's closing message
    let request: { secretId?: unknown; keyPath?: unknown } = {};
    try {
      request = JSON.parse(Buffer.from(message.body).toString("utf8")) as { secretId?: unknown; keyPath?: unknown };
    } catch {
      // answered below as a bad request
    }
    const secretId = typeof request.secretId === "string" ? request.secretId : undefined;
    fake.calls.push({ operation, secretId });
    const error = (shape: string, text: string): void => {
      socket.write(encode(TYPE.applicationError, FLAG.terminateStream, streamId, json(`aws.greengrass#${shape}`), { message: text, _message: text, _errorCode: shape, _service: "aws.greengrass#GreengrassCoreIPC" }));
    };
    if (operation === "aws.greengrass#GetConfiguration") {
      const keyPath = Array.isArray(request.keyPath) ? (request.keyPath as unknown[]).map(String) : [];
      let value: unknown = fake.configuration;
      for (const key of keyPath) value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
      if (value === undefined) {
        error("ResourceNotFoundError", `Key not found ${keyPath.join("/")}`);
        return;
      }
      socket.write(encode(TYPE.applicationMessage, FLAG.terminateStream, streamId, json("aws.greengrass#GetConfigurationResponse"), { componentName: "test.component", value }));
      return;
    }
    if (operation !== "aws.greengrass#GetSecretValue") {
      error("ServiceError", `operation ${operation} is not served by this test nucleus`);
      return;
    }
    if (secretId === undefined) {
      error("InvalidArgumentsError", "secretId is required");
      return;
    }
    if (fake.denied.has(secretId)) {
      error("UnauthorizedError", `Principal is not authorized to perform aws.greengrass.SecretManager:aws.greengrass#GetSecretValue on resource ${secretId}`);
      return;
    }
    const value = fake.secrets.get(secretId);
    if (value === undefined) {
      error("ResourceNotFoundError", `Secret not found ${secretId}`);
      return;
    }
    socket.write(
      encode(TYPE.applicationMessage, FLAG.terminateStream, streamId, json("aws.greengrass#GetSecretValueResponse"), {
        secretId,
        versionId: "00000000-0000-4000-8000-000000000001",
        versionStage: ["AWSCURRENT"],
        secretValue: { secretString: value },
      }),
    );
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const total = pending.readUInt32BE(0);
        if (pending.length < total) break;
        const frame = pending.subarray(0, total);
        pending = pending.subarray(total);
        handle(socket, codec.decode(new Uint8Array(frame)));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => { resolve(); });
  });
  return fake;
}
