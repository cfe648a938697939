/**
 * The gateway's bootstrap, scripted from the stack outputs:
 *
 *   pulumi stack output bootstrap -s factory-a --json | npm run -s edge:bootstrap -- gw-press > bootstrap-gw-press.sh
 *
 * The script is run as root on the gateway. It installs the Greengrass nucleus with the identity the gateway
 * already has: the private key it generated for its CSR stays where it is (`/greengrass/v2/privKey.key`), the
 * certificate IoT Core issued from that CSR comes from the stack outputs, and the endpoints, role alias and thing
 * name too. Greengrass then receives the factory's deployment (the edge agent) through the thing group.
 */
import * as fs from "node:fs";

/** The `bootstrap` stack output (see infra/index.ts). */
export interface BootstrapOutputs {
  readonly region: string;
  readonly iotDataEndpoint: string;
  readonly iotCredentialEndpoint: string;
  readonly roleAlias: string;
  readonly thingGroup: string;
  readonly gateways: Readonly<Record<string, { readonly thingName: string; readonly certificatePem: string | null }>>;
}

/** Where Greengrass lives on the gateway (the recipe's default agent settings use the same paths). */
export const GREENGRASS_ROOT = "/greengrass/v2";

const SAFE = /^[A-Za-z0-9._:/-]+$/;

function safe(field: string, value: string): string {
  if (!SAFE.test(value)) throw new Error(`${field} ${JSON.stringify(value)} has characters a shell script must not take literally`);
  return value;
}

/**
 * The bootstrap script of one gateway.
 *
 * @throws Error naming the gateway when it is unknown or has no certificate yet (its CSR is not in the config).
 */
export function bootstrapScript(outputs: BootstrapOutputs, gatewayId: string): string {
  const gateway = outputs.gateways[gatewayId];
  if (gateway === undefined) throw new Error(`no gateway ${JSON.stringify(gatewayId)} in the stack outputs (gateways: ${Object.keys(outputs.gateways).join(", ")})`);
  if (gateway.certificatePem === null || !gateway.certificatePem.includes("BEGIN CERTIFICATE")) {
    throw new Error(`gateway ${gatewayId} has no certificate yet: put its CSR in smart-factory:gateways[].csr and run pulumi up`);
  }
  if (gateway.certificatePem.includes("PRIVATE KEY")) throw new Error(`the certificate of ${gatewayId} contains a private key: refusing to write it into a script`);
  const thing = safe("thingName", gateway.thingName);
  const root = GREENGRASS_ROOT;
  return `#!/usr/bin/env bash
# Bootstrap of gateway ${thing} (thing group ${safe("thingGroup", outputs.thingGroup)}), generated from the stack outputs.
# Run as root on the gateway, with Java 11+ and Node.js 20+ installed and the Greengrass installer unpacked in ./GreengrassInstaller.
set -euo pipefail

root=${root}
if [ ! -s "$root/privKey.key" ]; then
  echo "missing $root/privKey.key: the key the CSR of ${thing} was made with must stay on this gateway" >&2
  exit 1
fi
install -d -m 0700 "$root"
cat > "$root/thingCert.crt" <<'CERT'
${gateway.certificatePem.trim()}
CERT
chmod 0644 "$root/thingCert.crt"
if [ ! -s "$root/rootCA.pem" ]; then
  curl --fail --silent --show-error --output "$root/rootCA.pem" https://www.amazontrust.com/repository/AmazonRootCA1.pem
fi

cat > ./greengrass-config.yaml <<CONFIG
---
system:
  certificateFilePath: "$root/thingCert.crt"
  privateKeyPath: "$root/privKey.key"
  rootCaPath: "$root/rootCA.pem"
  rootpath: "$root"
  thingName: "${thing}"
services:
  aws.greengrass.Nucleus:
    componentType: "NUCLEUS"
    configuration:
      awsRegion: "${safe("region", outputs.region)}"
      iotRoleAlias: "${safe("roleAlias", outputs.roleAlias)}"
      iotDataEndpoint: "${safe("iotDataEndpoint", outputs.iotDataEndpoint)}"
      iotCredEndpoint: "${safe("iotCredentialEndpoint", outputs.iotCredentialEndpoint)}"
CONFIG

java -Droot="$root" -Dlog.store=FILE -jar ./GreengrassInstaller/lib/Greengrass.jar \\
  --init-config ./greengrass-config.yaml \\
  --component-default-user ggc_user:ggc_group \\
  --setup-system-service true
echo "Greengrass installed as ${thing}; the factory's deployment (the edge agent) follows through its thing group."
`;
}

if (require.main === module) {
  const gatewayId = process.argv[2];
  if (gatewayId === undefined) {
    process.stderr.write("usage: pulumi stack output bootstrap -s <stack> --json | npm run -s edge:bootstrap -- <gateway id>\n");
    process.exitCode = 2;
  } else {
    try {
      process.stdout.write(bootstrapScript(JSON.parse(fs.readFileSync(0, "utf8")) as BootstrapOutputs, gatewayId));
    } catch (error) {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  }
}
