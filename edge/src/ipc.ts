/**
 * The agent's connection to the Greengrass nucleus's IPC service: eventstream RPC over the Unix socket Greengrass
 * names in `AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`, authenticated with the component's `SVCUID`
 * token, through the official AWS IoT Device SDK. The agent reads two things over it: its component configuration
 * (`GetConfiguration`) and its secrets (`GetSecretValue`, served by the secret manager component).
 */
import { eventstream_rpc, greengrasscoreipc, io } from "aws-iot-device-sdk-v2";
import { SmartFactoryError } from "@smart-factory/sdk";

/** The environment variables Greengrass gives a component for IPC. */
export const IPC_SOCKET_ENV = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT";
export const IPC_TOKEN_ENV = "SVCUID";

/** Whether the environment is a Greengrass component's (it can reach the nucleus's IPC). */
export function underGreengrass(env: Readonly<Record<string, string | undefined>>): boolean {
  return (env[IPC_SOCKET_ENV] ?? "") !== "" && (env[IPC_TOKEN_ENV] ?? "") !== "";
}

/**
 * A call to the nucleus that failed. `retryable` says whether asking again may help (the nucleus is restarting,
 * a secret is not synced yet) or whether only a configuration change will. `shape` is the service's modelled
 * error (`UnauthorizedError`, `ResourceNotFoundError`...) when it sent one.
 */
export class IpcError extends SmartFactoryError {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly shape?: string,
  ) {
    super(message);
  }
}

function describe(error: unknown): string {
  if (error instanceof eventstream_rpc.RpcError) {
    const inner = error.internalError === undefined ? "" : ` (${error.internalError.message})`;
    return `${error.description}${inner}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** A modelled IPC service error, as the SDK reports it. */
function serviceErrorOf(error: unknown): { readonly shape: string; readonly message: string } | undefined {
  if (!(error instanceof eventstream_rpc.RpcError) || error.serviceError === undefined) return undefined;
  const service = error.serviceError as { _errorCode?: unknown; message?: unknown; _message?: unknown };
  const shape = typeof service._errorCode === "string" ? service._errorCode : "ServiceError";
  const message = typeof service.message === "string" ? service.message : typeof service._message === "string" ? service._message : "";
  return { shape, message };
}

/**
 * One connection to the nucleus, opened on first use and opened again after it was lost (the nucleus restarts
 * when a deployment changes a plugin component such as the secret manager).
 */
export class GreengrassIpc {
  private client: greengrasscoreipc.Client | undefined;
  private connecting: Promise<greengrasscoreipc.Client> | undefined;

  /** @param env the component's environment (default `process.env`). */
  constructor(private readonly env: Readonly<Record<string, string | undefined>> = process.env) {}

  /**
   * The component's own configuration (the whole of it, or the value at `keyPath`).
   *
   * @throws IpcError when the nucleus cannot be reached or refuses.
   */
  async getConfiguration(keyPath: readonly string[] = []): Promise<unknown> {
    const response = await this.call("GetConfiguration", (c) => c.getConfiguration({ keyPath: [...keyPath] }));
    return response.value as unknown;
  }

  /**
   * A secret's value from the secret manager component: its string, or its binary as UTF-8.
   *
   * @throws IpcError with the service's error shape (`UnauthorizedError`, `ResourceNotFoundError`).
   */
  async getSecretValue(secretId: string): Promise<string | undefined> {
    const response = await this.call(`GetSecretValue ${secretId}`, (c) => c.getSecretValue({ secretId }));
    const value = response.secretValue;
    if (typeof value.secretString === "string") return value.secretString;
    if (value.secretBinary !== undefined) return Buffer.from(value.secretBinary as ArrayBuffer).toString("utf8");
    return undefined;
  }

  async close(): Promise<void> {
    const current = this.client;
    this.client = undefined;
    if (current !== undefined) await current.close();
  }

  private async call<T>(what: string, operation: (client: greengrasscoreipc.Client) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      return await operation(client);
    } catch (error) {
      const service = serviceErrorOf(error);
      if (service !== undefined) throw new IpcError(`${what}: ${service.shape}: ${service.message}`, service.shape !== "UnauthorizedError", service.shape);
      if (this.client === client) this.client = undefined; // the connection may be gone; the next call reconnects
      throw new IpcError(`${what} over Greengrass IPC failed: ${describe(error)}`, true);
    }
  }

  private connect(): Promise<greengrasscoreipc.Client> {
    if (this.client !== undefined) return Promise.resolve(this.client);
    if (this.connecting !== undefined) return this.connecting;
    const socketPath = this.env[IPC_SOCKET_ENV];
    const token = this.env[IPC_TOKEN_ENV];
    if (!underGreengrass(this.env) || socketPath === undefined || token === undefined) {
      return Promise.reject(new IpcError(`the agent does not run under Greengrass (${IPC_SOCKET_ENV} and ${IPC_TOKEN_ENV} are not set)`, false));
    }
    const candidate = greengrasscoreipc.createClient({
      hostName: socketPath,
      port: 0,
      socketOptions: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.LOCAL, 5_000),
      connectTransform: (options) => {
        options.message.payload = JSON.stringify({ authToken: token });
        return Promise.resolve(options.message);
      },
    });
    this.connecting = candidate
      .connect()
      .then(() => {
        candidate.on("disconnection", () => {
          if (this.client === candidate) this.client = undefined;
        });
        this.client = candidate;
        return candidate;
      })
      .catch((error: unknown) => {
        void candidate.close();
        // The nucleus answers a token it does not accept with a connect-ack without the accepted flag and closes
        // the connection; the client sees either, depending on which it reads first.
        const rpc = error instanceof eventstream_rpc.RpcError ? error : undefined;
        const refused = rpc?.type === eventstream_rpc.RpcErrorType.HandshakeError || (rpc?.type === eventstream_rpc.RpcErrorType.NetworkError && /connection closed/.test(rpc.description));
        throw new IpcError(
          refused
            ? `the Greengrass nucleus refused the agent's IPC connection at ${socketPath} during the handshake: its ${IPC_TOKEN_ENV} token was not accepted (${describe(error)})`
            : `cannot reach the Greengrass nucleus's IPC at ${socketPath}: ${describe(error)}`,
          true,
        );
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }
}
