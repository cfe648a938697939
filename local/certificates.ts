/**
 * The local factory's PKI, made fresh at every start and kept out of the repository: a certificate authority
 * standing in for AWS IoT's (it signs the gateways' device certificates) and Amazon's root CA (it signs the
 * broker's server certificate), one device certificate per gateway whose common name is the gateway's thing name,
 * and the broker's certificate for 127.0.0.1. ECDSA P-256 keys: quick to make, and what AWS IoT accepts too.
 *
 * Keys are written with mode 0600 into a directory of mode 0700 that the box deletes when it stops.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { webcrypto } from "node:crypto";
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the metadata polyfill loaded first
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const ALGORITHM: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86_400_000;

x509.cryptoProvider.set(webcrypto);

/** The files one TLS party needs, written to disk. */
export interface TlsFiles {
  readonly certificatePath: string;
  readonly privateKeyPath: string;
  /** The CA that signed the other side's certificate. */
  readonly caPath: string;
}

/** The PKI of one local factory. */
export interface LocalPki {
  readonly dir: string;
  readonly caPath: string;
  /** The CA's certificate (PEM); its key stays in memory only while the PKI is made. */
  readonly caCertificate: string;
  /** The broker's identity (server certificate for 127.0.0.1 and localhost). */
  readonly broker: TlsFiles;
  /** Each gateway's device identity by thing name (certificate CN = thing name). */
  readonly devices: ReadonlyMap<string, TlsFiles>;
  /** A further client identity (e.g. the simulator's sensors), by name. */
  client(name: string): Promise<TlsFiles>;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function serial(): string {
  // positive, 16 random bytes
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

function writeSecret(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
}

/**
 * Make the PKI of a local factory in `dir` (created with mode 0700): the CA, the broker's certificate and one
 * device certificate per thing name.
 *
 * @throws Error naming a thing name that is not a valid MQTT client id stem or is given twice.
 */
export async function createLocalPki(dir: string, thingNames: readonly string[]): Promise<LocalPki> {
  const seen = new Set<string>();
  for (const thing of thingNames) {
    if (!/^[A-Za-z0-9:_-]{1,128}$/.test(thing)) throw new Error(`thing name ${JSON.stringify(thing)} is not a valid AWS IoT thing name`);
    if (seen.has(thing)) throw new Error(`thing name ${JSON.stringify(thing)} is given twice`);
    seen.add(thing);
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const now = Date.now();
  const notBefore = new Date(now - DAY_MS);
  const notAfter = new Date(now + 30 * DAY_MS);

  const caKeys = await keyPair();
  const caName = "CN=Smart Factory local CA, O=Global Manufacturing Inc. (local run)";
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caCertificate = caCert.toString("pem");
  const caPath = path.join(dir, "ca.pem");
  fs.writeFileSync(caPath, caCertificate);

  const issue = async (name: string, subject: string, usage: "server" | "client"): Promise<TlsFiles> => {
    const keys = await keyPair();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ];
    if (usage === "server") {
      extensions.push(
        new x509.SubjectAlternativeNameExtension([
          { type: "ip", value: "127.0.0.1" },
          { type: "dns", value: "localhost" },
        ]),
      );
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions,
    });
    const certificatePath = path.join(dir, `${name}.crt`);
    const privateKeyPath = path.join(dir, `${name}.key`);
    fs.writeFileSync(certificatePath, cert.toString("pem"));
    writeSecret(privateKeyPath, await privateKeyPem(keys.privateKey));
    return { certificatePath, privateKeyPath, caPath };
  };

  const broker = await issue("broker", "CN=127.0.0.1, O=Smart Factory local broker", "server");
  const devices = new Map<string, TlsFiles>();
  for (const thing of thingNames) devices.set(thing, await issue(`device-${thing}`, `CN=${thing}`, "client"));
  return { dir, caPath, caCertificate, broker, devices, client: (name) => issue(`client-${name}`, `CN=${name}`, "client") };
}
