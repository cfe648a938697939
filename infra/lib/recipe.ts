/**
 * The Greengrass recipe of a factory's edge agent, as data. The component version is derived from everything that
 * makes the component (the artifacts' content hashes and the default configuration), because a Greengrass
 * component version is immutable: the same content always gets the same version, new content a new one.
 */
import * as crypto from "node:crypto";
import { checkName, type FactoryConfig } from "@smart-factory/sdk";

/** A packaged agent (`npm run edge:package` writes its manifest beside the zip). */
export interface AgentArtifact {
  readonly file: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly arch: "x64" | "arm64";
  readonly platform: "linux";
  readonly entry: string;
  /** `process.versions.modules` of the Node.js that built the native addons: the gateway's must match. */
  readonly nodeAbi?: string;
}

/** The install check: Node.js 20 or newer, with the ABI the native addons were built for. */
export function installCheck(artifact: AgentArtifact): string {
  const abi = artifact.nodeAbi === undefined ? "" : ` && process.versions.modules === '${artifact.nodeAbi.replace(/[^0-9]/g, "")}'`;
  return `node -e "const ok = Number(process.versions.node.split('.')[0]) >= 20${abi}; if (!ok) console.error('the edge agent needs Node.js 20+${artifact.nodeAbi === undefined ? "" : ` with ABI ${artifact.nodeAbi.replace(/[^0-9]/g, "")} (the Node.js it was packaged with)`}, this is ' + process.version); process.exit(ok ? 0 : 1)"`;
}

/** Greengrass's names for Node's architectures. */
const GREENGRASS_ARCH = { x64: "amd64", arm64: "aarch64" } as const;

/** The agent's component name: account-scoped, so it starts with the factory id. */
export function agentComponentName(factoryId: string): string {
  return checkName("greengrassComponent", `${factoryId}.smartfactory.EdgeAgent`);
}

/** The S3 key of an artifact: content-addressed, so a new build never overwrites an old one. */
export function artifactKey(artifact: AgentArtifact): string {
  return `edge-agent/${artifact.sha256}/edge-agent-${artifact.platform}-${artifact.arch}.zip`;
}

/** A semver version from content: `1.0.<31 bits of the hash>`. */
export function contentVersion(parts: readonly string[]): string {
  const digest = crypto.createHash("sha256").update(parts.join("\u0000")).digest();
  return `1.0.${digest.readUInt32BE(0) & 0x7fffffff}`;
}

/** Where the Greengrass installer puts the device identity (the bootstrap uses the same paths). */
export const GREENGRASS_ROOT = "/greengrass/v2";

/** The agent settings every gateway of a factory starts with (the deployment may merge changes). */
export function defaultAgentSettings(iotEndpoint: string, componentName: string): Record<string, unknown> {
  return {
    iotEndpoint,
    certificatePath: `${GREENGRASS_ROOT}/thingCert.crt`,
    privateKeyPath: `${GREENGRASS_ROOT}/privKey.key`,
    rootCaPath: `${GREENGRASS_ROOT}/rootCA.pem`,
    buffer: { path: `${GREENGRASS_ROOT}/work/${componentName}/buffer.db`, maxBytes: 8 * 1024 ** 3, maxAgeHours: 24 * 14, onOverflow: "dropOldest" },
    healthIntervalSeconds: 60,
  };
}

/**
 * The version of Greengrass's secret manager component the deployment installs when the factory names edge
 * secrets (a deployment names exact versions; the recipe's dependency accepts any 2.x from 2.1).
 */
export const SECRET_MANAGER_COMPONENT = { name: "aws.greengrass.SecretManager", version: "2.1.7", requirement: "^2.1.0" } as const;

/** The Secrets Manager ARNs the factory's agents read (`edge.secrets`), in a stable order. */
export function edgeSecretArns(config: FactoryConfig): string[] {
  const secrets = config.edge?.secrets;
  return [secrets?.opcuaClientIdentity, secrets?.plcCredentials].filter((a): a is string => a !== undefined);
}

/** The secret manager's configuration merge: the secrets it syncs to every gateway of the deployment. */
export function secretManagerConfiguration(config: FactoryConfig): string {
  return JSON.stringify({ cloudSecrets: edgeSecretArns(config).map((arn) => ({ arn })) });
}

/** The recipe (JSON) of the agent for the given artifacts, and its version. */
export function agentRecipe(config: FactoryConfig, artifacts: readonly AgentArtifact[], bucket: string, iotEndpoint: string): { name: string; version: string; recipe: string } {
  if (artifacts.length === 0) throw new Error("the edge agent needs at least one packaged artifact (npm run edge:package)");
  const name = agentComponentName(config.factory.id);
  const secrets = edgeSecretArns(config);
  // the agent reads factory and agent over IPC (GetConfiguration); accessControl is Greengrass's
  const accessControl =
    secrets.length === 0
      ? {}
      : {
          accessControl: {
            [SECRET_MANAGER_COMPONENT.name]: {
              [`${name}:secrets:1`]: {
                policyDescription: "The edge agent reads its OPC UA client identity and PLC credentials (edge.secrets of the stack), and no other secret",
                operations: ["aws.greengrass#GetSecretValue"],
                resources: secrets,
              },
            },
          },
        };
  const configuration = { factory: config, agent: defaultAgentSettings(iotEndpoint, name), ...accessControl };
  const version = contentVersion([name, JSON.stringify(configuration), ...artifacts.map((a) => `${a.platform}/${a.arch}/${a.sha256}`).sort()]);
  const recipe = {
    RecipeFormatVersion: "2020-01-25",
    ComponentName: name,
    ComponentVersion: version,
    ComponentDescription: `Smart-factory edge agent of ${config.factory.name}: OPC UA and MQTT in, durable store-and-forward, mutual-TLS MQTT out`,
    ComponentPublisher: "Global Manufacturing Inc. platform team",
    ComponentDependencies: {
      "aws.greengrass.Nucleus": { VersionRequirement: ">=2.12.0 <3.0.0", DependencyType: "SOFT" },
      // the agent reads its secrets at start: it must start after the secret manager, and restart with it
      ...(secrets.length === 0 ? {} : { [SECRET_MANAGER_COMPONENT.name]: { VersionRequirement: SECRET_MANAGER_COMPONENT.requirement, DependencyType: "HARD" } }),
    },
    ComponentConfiguration: { DefaultConfiguration: configuration },
    Manifests: artifacts.map((a) => ({
      Platform: { os: a.platform, architecture: GREENGRASS_ARCH[a.arch] },
      Lifecycle: {
        // the gateway provides Node.js; the install step refuses one the native addons were not built for
        Install: { Script: installCheck(a), RequiresPrivilege: false },
        Run: { Script: `node --enable-source-maps {artifacts:decompressedPath}/edge-agent-${a.platform}-${a.arch}/${a.entry}`, RequiresPrivilege: false },
      },
      Artifacts: [{ URI: `s3://${bucket}/${artifactKey(a)}`, Unarchive: "ZIP", Digest: Buffer.from(a.sha256, "hex").toString("base64"), Algorithm: "SHA-256", Permission: { Read: "OWNER", Execute: "NONE" } }],
    })),
  };
  return { name, version, recipe: JSON.stringify(recipe) };
}
