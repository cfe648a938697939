/**
 * A simulated PLC: a node-opcua `OPCUAServer` on 127.0.0.1 whose address space holds the tags, state register
 * and part counters of some machines of a stack, under the node ids the stack config gives them. Tests set the
 * values (with a status and with or without a source timestamp), and stop or restart the server on the same port
 * to exercise the adapter's reconnection. It never listens beyond the loopback interface.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { MachinePlacement } from "@smart-factory/sdk";
import {
  DataType,
  DataValue,
  MessageSecurityMode,
  MonitoredItem,
  OPCUACertificateManager,
  OPCUAServer,
  RegisterServerMethod,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type AddressSpace,
  type Namespace,
  type StatusCode,
  type UAVariable,
} from "node-opcua";
import { runDirectory } from "./runDirectory";

/** How a test sets one node: the value, its status and which timestamps the server attaches. */
export interface PlcValue {
  /** `null` sends no value (a Null variant), as a PLC does with a bad status. */
  readonly value: number | boolean | null;
  /** Default `Good`. */
  readonly status?: StatusCode;
  /** The source timestamp; `null` sends none (the client must fall back to the server timestamp). Default: now. */
  readonly sourceTimestamp?: Date | null;
}

/** A running simulated PLC. */
export interface PlcServer {
  readonly port: number;
  /** `opc.tcp://127.0.0.1:<port>`. */
  readonly endpointUrl: string;
  /** The server's self-signed certificate (PEM), for a client's trust list. */
  readonly certificatePath: string;
  /** Set the value of a node (any configured tag, state or counter node id); kept across restarts. */
  set(nodeId: string, value: PlcValue | number | boolean | null): void;
  /** Subscriptions the server holds for all sessions, with their monitored item counts. */
  subscriptions(): { publishingInterval: number; monitoredItems: number }[];
  /** The open sessions. */
  sessions(): PlcSession[];
  /** Sessions refused for a bad user name or password since start. */
  readonly refusedUsers: string[];
  /** Shut down (clients see the connection drop). */
  stop(): Promise<void>;
  /** Start again after {@link stop}, on the same port, with the last values set (the old sessions are gone). */
  start(): Promise<void>;
  /** Stop, wait `downMs`, start a fresh server on the same port with the last values set (sessions are lost). */
  restart(downMs?: number): Promise<void>;
}

/** Options of {@link startPlcServer}. */
export interface PlcServerOptions {
  readonly machines: readonly MachinePlacement[];
  /** Fixed port (for a second server); default a free one. */
  readonly port?: number;
  /** Advertised in ServerCapabilities (the adapter reads it when no limit is configured). */
  readonly maxMonitoredItemsPerSubscription?: number;
  /**
   * A locked-down PLC: only these users (name -> password) may open sessions (no anonymous ones), only
   * SignAndEncrypt endpoints are offered, and only client certificates in `trustedClientCertificates` (PEM files)
   * are accepted. Its PKI lives in its own folder, apart from the shared test PKI.
   */
  readonly secured?: { readonly users: Readonly<Record<string, string>>; readonly trustedClientCertificates: readonly string[]; readonly pkiRoot: string };
}

/** A session as the server sees it: who logged in, with which client certificate. */
export interface PlcSession {
  /** The user name of a UserName token, `undefined` for anonymous. */
  readonly userName: string | undefined;
  /** SHA-256 (hex) of the client certificate's DER, `undefined` on an unsecured channel. */
  readonly clientCertificateSha256: string | undefined;
}

// A node-opcua server samples at most every 50 ms unless lowered; tests use 10 to 50 ms sampling.
MonitoredItem.minimumSamplingInterval = 10;

/** Where the test servers and clients keep their PKI: made once per run, shared by its spec files (see runDirectory). */
export const TEST_PKI_ROOT = runDirectory("opcua-pki");
const PKI_ROOT = TEST_PKI_ROOT;

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => {
        resolve(port);
      });
    });
  });
}

/** Start a simulated PLC serving `options.machines`. */
export async function startPlcServer(options: PlcServerOptions): Promise<PlcServer> {
  const port = options.port ?? (await freePort());
  const values = new Map<string, PlcValue>();
  let server: OPCUAServer | undefined;
  let variables = new Map<string, UAVariable>();

  const apply = (variable: UAVariable, v: PlcValue): void => {
    const now = new Date();
    const variant =
      v.value === null
        ? new Variant({ dataType: DataType.Null })
        : new Variant({ dataType: variable.dataType.value === DataType.Double ? DataType.Double : variable.dataType.value === DataType.Int32 ? DataType.Int32 : DataType.UInt32, value: typeof v.value === "boolean" ? Number(v.value) : v.value });
    const sourceTimestamp = v.sourceTimestamp === undefined ? now : v.sourceTimestamp;
    // `_internal_set_dataValue` (public in node-opcua's implementation, not in its types) keeps the status and
    // timestamps as given, where `setValueFromSource` would stamp its own.
    (variable as unknown as { _internal_set_dataValue(dataValue: DataValue): void })._internal_set_dataValue(
      new DataValue({ value: variant, statusCode: v.status ?? StatusCodes.Good, sourceTimestamp, serverTimestamp: now }),
    );
    // The address space keeps the previous source timestamp when a value comes without one; a PLC that stamps
    // nothing is simulated by clearing it on the stored value, which the sampling timer then reads as is.
    if (sourceTimestamp === null) (variable as unknown as { $dataValue: DataValue }).$dataValue.sourceTimestamp = null;
  };

  const secured = options.secured;
  const pkiRoot = secured?.pkiRoot ?? PKI_ROOT;
  const refusedUsers: string[] = [];
  const start = async (): Promise<void> => {
    fs.mkdirSync(pkiRoot, { recursive: true });
    const serverCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(pkiRoot, "server"), automaticallyAcceptUnknownCertificate: secured === undefined });
    const userCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(pkiRoot, "user"), automaticallyAcceptUnknownCertificate: secured === undefined });
    if (secured !== undefined) {
      await serverCertificateManager.initialize();
      for (const file of secured.trustedClientCertificates) await serverCertificateManager.trustCertificate(pemToDer(fs.readFileSync(file, "utf8")));
    }
    const s = new OPCUAServer({
      ...(secured === undefined
        ? {}
        : {
            allowAnonymous: false,
            securityModes: [MessageSecurityMode.SignAndEncrypt],
            securityPolicies: [SecurityPolicy.Basic256Sha256],
            userManager: {
              isValidUser: (userName: string, password: string) => {
                const ok = secured.users[userName] === password;
                if (!ok) refusedUsers.push(userName);
                return ok;
              },
            },
          }),
      port,
      host: "127.0.0.1",
      hostname: "127.0.0.1",
      registerServerMethod: RegisterServerMethod.HIDDEN,
      serverCertificateManager,
      userCertificateManager,
      serverCapabilities: {
        minSupportedSampleRate: 10,
        ...(options.maxMonitoredItemsPerSubscription === undefined ? {} : { maxMonitoredItemsPerSubscription: options.maxMonitoredItemsPerSubscription }),
      },
    });
    await s.initialize();
    const addressSpace = s.engine.addressSpace;
    if (addressSpace === null) throw new Error("the OPC UA server has no address space");
    variables = buildAddressSpace(addressSpace, options.machines);
    for (const [nodeId, v] of values) {
      const variable = variables.get(nodeId);
      if (variable !== undefined) apply(variable, v);
    }
    await s.start();
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s !== undefined) await s.shutdown(0);
  };

  await start();
  return {
    port,
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    certificatePath: path.join(pkiRoot, "server", "own", "certs", "certificate.pem"),
    set(nodeId, value) {
      const v: PlcValue = value === null || typeof value !== "object" ? { value } : value;
      values.set(nodeId, v);
      const variable = variables.get(nodeId);
      if (variable === undefined) throw new Error(`the simulated PLC has no node ${nodeId}`);
      if (server !== undefined) apply(variable, v);
    },
    subscriptions() {
      const sessions = server?.engine.currentSessionCount ?? 0;
      if (server === undefined || sessions === 0) return [];
      return server.engine
        .getSessions()
        .flatMap((session) => session.publishEngine.subscriptions)
        .map((sub) => ({ publishingInterval: sub.publishingInterval, monitoredItems: sub.monitoredItemCount }));
    },
    sessions() {
      if (server === undefined) return [];
      return server.engine.getSessions().map((session) => {
        const token = session.userIdentityToken as { userName?: unknown } | undefined;
        const certificate = session.channel?.clientCertificate ?? null;
        return {
          userName: typeof token?.userName === "string" ? token.userName : undefined,
          clientCertificateSha256: certificate === null ? undefined : crypto.createHash("sha256").update(certificate).digest("hex"),
        };
      });
    },
    refusedUsers,
    stop,
    start,
    async restart(downMs = 500) {
      await stop();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
  };
}

function buildAddressSpace(addressSpace: AddressSpace, machines: readonly MachinePlacement[]): Map<string, UAVariable> {
  const variables = new Map<string, UAVariable>();
  const namespaceOf = (nodeId: string): Namespace => {
    const index = Number(/^ns=(\d+);/.exec(nodeId)?.[1] ?? 0);
    // The stack's node ids use ns=3: register namespaces until that index exists (ns=1 is the server's own).
    while (addressSpace.getNamespaceArray().length <= index) addressSpace.registerNamespace(`urn:smart-factory:test:ns${addressSpace.getNamespaceArray().length}`);
    const namespace = addressSpace.getNamespaceArray()[index];
    if (namespace === undefined) throw new Error(`no namespace ${index}`);
    // getNamespaceArray is typed with the base interface; the address space holds full namespaces.
    return namespace as Namespace;
  };
  const objects = addressSpace.rootFolder.objects;
  for (const { machine, type } of machines) {
    const own = addressSpace.getOwnNamespace();
    const folder = own.addObject({ browseName: machine.id, organizedBy: objects });
    for (const tag of type.tags) {
      const nodeId = machine.tags[tag.name];
      if (nodeId === undefined) continue; // an MQTT sensor tag
      const variable = namespaceOf(nodeId).addAnalogDataItem({
        nodeId,
        browseName: tag.name,
        componentOf: folder,
        dataType: "Double",
        engineeringUnitsRange: { low: tag.min, high: tag.max },
        minimumSamplingInterval: 10,
        value: new Variant({ dataType: DataType.Double, value: 0 }),
      });
      variables.set(nodeId, variable);
    }
    const signals: [string, string, DataType][] = [
      ["State", machine.signals.state, DataType.Int32],
      ["GoodCount", machine.signals.goodCount, DataType.UInt32],
      ["BadCount", machine.signals.badCount, DataType.UInt32],
    ];
    for (const [name, nodeId, dataType] of signals) {
      const variable = namespaceOf(nodeId).addVariable({
        nodeId,
        browseName: name,
        componentOf: folder,
        dataType: DataType[dataType],
        minimumSamplingInterval: 10,
        value: new Variant({ dataType, value: 0 }),
      });
      variables.set(nodeId, variable);
    }
  }
  return variables;
}

/** The DER bytes of a PEM certificate. */
function pemToDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""), "base64");
}
