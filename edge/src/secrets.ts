/**
 * The agent's secrets: the OPC UA client identity (application instance certificate and private key) and the PLC
 * user credentials, named by ARN in the factory's `edge.secrets` and read through Greengrass's secret manager
 * component over the nucleus's IPC (`aws.greengrass#GetSecretValue`, with the official AWS IoT Device SDK). The
 * secret manager keeps the secrets on the gateway, encrypted with the gateway's key, so the agent gets them even
 * while the uplink is down.
 *
 * Secret values never reach a log or an error message: a malformed secret is reported by ARN, field and what was
 * expected, with only the length of what was found.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SmartFactoryError, type EdgeSecrets } from "@smart-factory/sdk";
import { GreengrassIpc, IpcError } from "./ipc";

/**
 * A secret the agent could not get or use. `retryable` says whether asking again may help (the secret manager
 * has not synced yet, the nucleus is restarting) or whether only a configuration or secret change will.
 */
export class SecretError extends SmartFactoryError {
  constructor(
    message: string,
    readonly secretId: string | undefined,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Reads secret strings by ARN. */
export interface SecretReader {
  read(secretId: string): Promise<string>;
  close(): Promise<void>;
}

/** The OPC UA client's application instance certificate and its private key (PEM). */
export interface ClientIdentity {
  readonly certificate: string;
  readonly privateKey: string;
  /**
   * The application URI in the certificate's subjectAltName: OPC UA servers check that the client's
   * ApplicationDescription names the URI of its certificate.
   */
  readonly applicationUri: string | undefined;
}

/** The PLC user the OPC UA sessions log in as. */
export interface PlcCredentials {
  readonly username: string;
  readonly password: string;
}

/** What the configured secrets hold; a secret not configured is absent. */
export interface AgentSecrets {
  readonly clientIdentity?: ClientIdentity;
  readonly plcCredentials?: PlcCredentials;
}

/**
 * The secret reader of a Greengrass component, over the nucleus's IPC ({@link GreengrassIpc}).
 *
 * @param ipc the connection (default: one from `process.env`).
 */
export function greengrassSecretReader(ipc: GreengrassIpc = new GreengrassIpc()): SecretReader {
  return {
    async read(secretId: string): Promise<string> {
      let value: string | undefined;
      try {
        value = await ipc.getSecretValue(secretId);
      } catch (error) {
        if (!(error instanceof IpcError)) throw error;
        if (error.shape === "UnauthorizedError") {
          throw new SecretError(
            `the agent may not read secret ${secretId}: its component's accessControl for aws.greengrass.SecretManager does not list it (the stack's EdgeRuntime grants exactly edge.secrets; redeploy after changing them)`,
            secretId,
            false,
          );
        }
        if (error.shape === "ResourceNotFoundError") {
          throw new SecretError(
            `secret ${secretId} is not on this gateway yet: Greengrass's secret manager syncs the deployment's cloudSecrets when the gateway reaches AWS (check that the gateways' role may read it)`,
            secretId,
            true,
          );
        }
        const notGreengrass = !error.retryable && error.shape === undefined;
        throw new SecretError(
          notGreengrass ? `edge.secrets are configured but ${error.message}: secrets are read through Greengrass's secret manager only` : `reading secret ${secretId}: ${error.message}`,
          secretId,
          error.retryable,
        );
      }
      if (value === undefined) throw new SecretError(`secret ${secretId} has no value`, secretId, false);
      return value;
    },
    close: () => ipc.close(),
  };
}

// ---------------------------------------------------------------------------------------------- contents

/** A field's problem, naming the secret and the field and never showing the value. */
function invalid(secretId: string, field: string, expected: string, found: unknown): SecretError {
  const shown = typeof found === "string" ? `a string of ${found.length} characters` : found === undefined ? "nothing" : `a ${Array.isArray(found) ? "list" : typeof found}`;
  return new SecretError(`secret ${secretId}: ${field}: expected ${expected}, got ${shown}`, secretId, false);
}

function jsonObject(secretId: string, text: string, expected: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new SecretError(`secret ${secretId}: expected a JSON object ${expected}, got ${text.length} characters that are not JSON`, secretId, false);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(secretId, "(value)", `a JSON object ${expected}`, value);
  return value as Record<string, unknown>;
}

/**
 * Check an OPC UA client identity secret: a JSON object with a PEM `certificate` and the PEM `privateKey` that
 * belongs to it.
 *
 * @throws SecretError naming the field that is missing, malformed or does not match.
 */
export function parseClientIdentity(secretId: string, text: string): ClientIdentity {
  const expected = '{"certificate": "<PEM>", "privateKey": "<PEM>"}';
  const o = jsonObject(secretId, text, expected);
  const certificate = o.certificate;
  const privateKey = o.privateKey;
  if (typeof certificate !== "string" || !certificate.includes("-----BEGIN CERTIFICATE-----")) throw invalid(secretId, "certificate", "a PEM certificate (-----BEGIN CERTIFICATE----- ...)", certificate);
  if (typeof privateKey !== "string" || !/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(privateKey)) throw invalid(secretId, "privateKey", "an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- ...)", privateKey);
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(certificate);
  } catch {
    throw invalid(secretId, "certificate", "a PEM certificate that parses", certificate);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(privateKey);
  } catch {
    throw invalid(secretId, "privateKey", "a PEM private key that parses (unencrypted)", privateKey);
  }
  if (!x509.checkPrivateKey(key)) throw new SecretError(`secret ${secretId}: privateKey does not belong to certificate (subject ${x509.subject.replace(/\n/g, ", ")})`, secretId, false);
  const applicationUri = /(?:^|,\s*)URI:([^,]+)/.exec(x509.subjectAltName ?? "")?.[1];
  return { certificate, privateKey, applicationUri };
}

/**
 * Check a PLC credentials secret: a JSON object with a non-empty `username` and a `password`.
 *
 * @throws SecretError naming the field that is missing or malformed.
 */
export function parsePlcCredentials(secretId: string, text: string): PlcCredentials {
  const o = jsonObject(secretId, text, '{"username": "...", "password": "..."}');
  if (typeof o.username !== "string" || o.username.trim() === "") throw invalid(secretId, "username", "a non-empty string", o.username);
  if (typeof o.password !== "string") throw invalid(secretId, "password", "a string", o.password);
  return { username: o.username, password: o.password };
}

/** Read and check every configured secret. */
export async function readAgentSecrets(secrets: EdgeSecrets | undefined, reader: SecretReader): Promise<AgentSecrets> {
  const result: { clientIdentity?: ClientIdentity; plcCredentials?: PlcCredentials } = {};
  if (secrets?.opcuaClientIdentity !== undefined) result.clientIdentity = parseClientIdentity(secrets.opcuaClientIdentity, await reader.read(secrets.opcuaClientIdentity));
  if (secrets?.plcCredentials !== undefined) result.plcCredentials = parsePlcCredentials(secrets.plcCredentials, await reader.read(secrets.plcCredentials));
  return result;
}

/** Where node-opcua finds the client's own certificate and key inside its PKI folder, and the URI it names. */
export interface ClientIdentityFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly applicationUri?: string;
}

/**
 * Put the client identity where the OPC UA client reads it: `own/certs` and `own/private` of the PKI folder, the
 * key readable by the agent's user only, each file replaced atomically so a crash never leaves half a key.
 */
export function installClientIdentity(pkiFolder: string, identity: ClientIdentity): ClientIdentityFiles {
  const files: ClientIdentityFiles = {
    certificateFile: path.join(pkiFolder, "own", "certs", "agent_certificate.pem"),
    privateKeyFile: path.join(pkiFolder, "own", "private", "agent_private_key.pem"),
  };
  const write = (file: string, content: string, mode: number): void => {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, content, { mode });
    fs.chmodSync(temporary, mode);
    fs.renameSync(temporary, file);
  };
  write(files.privateKeyFile, identity.privateKey, 0o600);
  write(files.certificateFile, identity.certificate, 0o644);
  return identity.applicationUri === undefined ? files : { ...files, applicationUri: identity.applicationUri };
}
