/**
 * A real MQTT broker for tests: mosquitto with a mutual-TLS listener on 127.0.0.1, and a throw-away PKI made with
 * the `openssl` CLI in a temporary directory (keys never touch the repository):
 *
 * - `ca`: the CA the broker trusts for client certificates (and that signed the broker's own certificate);
 * - `server`: the broker's certificate for `127.0.0.1` and `localhost`;
 * - `client`: a gateway certificate signed by `ca`;
 * - `rogueCa` / `rogueClient`: a second CA and a client certificate signed by it, which the broker refuses.
 *
 * The broker can be stopped and started again on the same port (outage tests). Call {@link Mosquitto.dispose}
 * in an `after` hook: it kills the broker and removes the directory.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs, systemTool } from "../harness/systemTools";

needs("mosquitto", "openssl");

/** PEM material of one TLS identity. */
export interface TlsIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The PKI of a test broker. */
export interface TestPki {
  /** PEM of the CA the broker trusts (also the issuer of the broker's certificate). */
  readonly ca: Buffer;
  /** A client certificate the broker accepts (CN = `commonName` given to {@link startMosquitto}). */
  readonly client: TlsIdentity;
  /** A client certificate signed by a CA the broker does not trust. */
  readonly rogueClient: TlsIdentity;
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Common name of the good client certificate (its MQTT user name). Default `factory-a-gw-test`. */
  readonly commonName?: string;
  /**
   * Keep sessions and queued messages across a stop/start (in the temporary directory). Default false. An outage
   * test needs it for its subscriber: without it, messages the publisher gets PUBACKs for between the broker's
   * restart and the subscriber's re-subscription would reach nobody.
   */
  readonly persistence?: boolean;
}

/** Run the openssl CLI in `dir` (errors carry its stderr). */
export function openssl(dir: string, args: string[]): void {
  // node-opcua's PKI sets OPENSSL_CONF for the whole process (to "undefined" when it has no file): not for us
  const env = { ...process.env };
  if (env.OPENSSL_CONF !== undefined && !existsSync(env.OPENSSL_CONF)) delete env.OPENSSL_CONF;
  execFileSync(systemTool("openssl"), args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.crt`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
}

function makeLeaf(dir: string, name: string, cn: string, ca: string, extensions: string): void {
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${cn}`,
    "-keyout", `${name}.key`, "-out", `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`]);
}

/** A free TCP port on 127.0.0.1 (closed again before returning, so the broker can bind it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => { resolve(port); });
    });
  });
}

async function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => { socket.destroy(); resolve(false); });
  });
}

/** A running (or stopped) test broker. */
export class Mosquitto {
  private child: ChildProcess | undefined;
  private log = "";

  /** @internal use {@link startMosquitto}. */
  constructor(
    /** The temporary directory holding keys, certificates, config and logs. */
    readonly dir: string,
    /** The TLS port on 127.0.0.1 (the same across restarts). */
    readonly port: number,
    /** Certificates and keys for clients. */
    readonly pki: TestPki,
  ) {}

  /** `mqtts://127.0.0.1:<port>`. */
  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /** Whether the broker process is running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** What the broker wrote to stderr so far (for failure messages). */
  get output(): string {
    return this.log;
  }

  /** Start the broker and wait until its port accepts connections. */
  async start(): Promise<void> {
    if (this.child !== undefined) return;
    const binary = systemTool("mosquitto");
    const child = spawn(binary, ["-c", join(this.dir, "mosquitto.conf")], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    // a process that could not be started emits "error" (and no "exit"): without a listener that error is thrown
    // as an uncaught exception into whichever test runs next
    let failed: Error | undefined;
    child.once("error", (error) => {
      failed = error;
      if (this.child === child) this.child = undefined;
    });
    child.stdout.on("data", (d: Buffer) => { this.log += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { this.log += d.toString(); });
    child.once("exit", () => { if (this.child === child) this.child = undefined; });
    const deadline = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (failed !== undefined) throw new Error(`${binary} could not be started: ${failed.message}`);
      if (this.child !== child) throw new Error(`mosquitto exited during start-up:\n${this.log}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`mosquitto did not open port ${this.port} within 10 s:\n${this.log}`);
      }
      await sleep(25);
    }
  }

  /** Stop the broker (SIGTERM, SIGKILL after 5 s) and wait until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => { resolve(); }));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }

  /** Freeze the broker (SIGSTOP): connections stay open but nothing is answered, e.g. no PUBACK. */
  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  /** Resume a frozen broker (SIGCONT). */
  thaw(): void {
    this.child?.kill("SIGCONT");
  }

  /** Kill the broker if it runs and delete the temporary directory. */
  async dispose(): Promise<void> {
    this.thaw();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Make a PKI in a temporary directory, write a mosquitto config for it and start the broker. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), "sf-mosquitto-"));
  try {
    makeCa(dir, "ca");
    makeLeaf(dir, "server", "localhost", "ca",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n");
    makeLeaf(dir, "client", options.commonName ?? "factory-a-gw-test", "ca",
      "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n");
    makeCa(dir, "rogue-ca");
    makeLeaf(dir, "rogue-client", options.commonName ?? "factory-a-gw-test", "rogue-ca",
      "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n");
    const port = await freePort();
    const conf = [
      // mosquitto started as root drops to the user "mosquitto", who could not read the keys in this directory
      "user root",
      "per_listener_settings false",
      "allow_anonymous false",
      `persistence ${options.persistence === true ? "true" : "false"}`,
      `persistence_location ${dir}/`,
      "autosave_interval 1",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "set_tcp_nodelay true",
      "max_queued_messages 100000",
      `listener ${port} 127.0.0.1`,
      `cafile ${join(dir, "ca.crt")}`,
      `certfile ${join(dir, "server.crt")}`,
      `keyfile ${join(dir, "server.key")}`,
      "require_certificate true",
      "use_identity_as_username true",
      "",
    ].join("\n");
    writeFileSync(join(dir, "mosquitto.conf"), conf);
    const read = (name: string): Buffer => readFileSync(join(dir, name));
    const pki: TestPki = {
      ca: read("ca.crt"),
      client: { cert: read("client.crt"), key: read("client.key") },
      rogueClient: { cert: read("rogue-client.crt"), key: read("rogue-client.key") },
    };
    const broker = new Mosquitto(dir, port, pki);
    await broker.start();
    return broker;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
