/**
 * DeviceFleet: the factory's gateways as AWS IoT things in one thing group, each with an X.509 certificate issued
 * from the CSR in the stack config (the private key stays on the gateway; the program never holds one), its own
 * IoT policy (see `lib/iotPolicy`), and the token-exchange role behind a role alias, through which Greengrass
 * components get AWS credentials. A gateway without a CSR yet gets its thing but no certificate, and the stack
 * says so in its outputs and as a warning.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, thingName, agentClientId, type FactoryConfig } from "@smart-factory/sdk";
import { arn, policyDocument, renderPolicy, trustPolicy, type AccountContext } from "../lib/iam";
import { gatewayPolicy } from "../lib/iotPolicy";

export interface DeviceFleetArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
}

/** What a gateway's bootstrap needs to know, per gateway. */
export interface GatewayBootstrap {
  readonly thingName: string;
  readonly agentClientId: string;
  /** `undefined` until the gateway's CSR is in the stack config. */
  readonly certificateArn: pulumi.Output<string> | undefined;
  /** The issued certificate (public; the key is on the gateway). */
  readonly certificatePem: pulumi.Output<string> | undefined;
}

/** Seconds the credentials of the token-exchange role last (the Greengrass default). */
export const TOKEN_CREDENTIAL_SECONDS = 3600;

/** Thing group, things, certificates, IoT policies, token-exchange role and role alias of a factory. */
export class DeviceFleet extends pulumi.ComponentResource {
  readonly thingGroup: aws.iot.ThingGroup;
  readonly tokenExchangeRole: aws.iam.Role;
  readonly roleAlias: aws.iot.RoleAlias;
  readonly gateways: Readonly<Record<string, GatewayBootstrap>>;
  readonly awaitingCsr: readonly string[];

  constructor(name: string, args: DeviceFleetArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:devices:DeviceFleet", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };

    this.thingGroup = new aws.iot.ThingGroup(name, { name: scopedName("thingGroup", factoryId, "gateways"), properties: { description: `Gateways of ${config.factory.name}` } }, child);

    const roleName = scopedName("iamRole", factoryId, "token-exchange");
    this.tokenExchangeRole = new aws.iam.Role(
      `${name}-token-exchange`,
      { name: roleName, description: "Credentials of the Greengrass components on the factory's gateways", assumeRolePolicy: renderPolicy(trustPolicy("credentials.iot.amazonaws.com")) },
      child,
    );
    new aws.iam.RolePolicy(
      `${name}-token-exchange`,
      {
        role: this.tokenExchangeRole.name,
        policy: renderPolicy(
          policyDocument(
            {
              // Greengrass's log manager writes component logs to /aws/greengrass/<type>/<region>/<component>
              Sid: "ComponentLogs",
              Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
              Resource: [arn(account, "logs", `log-group:/aws/greengrass/*`), arn(account, "logs", `log-group:/aws/greengrass/*:log-stream:*`)],
            },
          ),
        ),
      },
      child,
    );
    this.roleAlias = new aws.iot.RoleAlias(
      name,
      { alias: scopedName("roleAlias", factoryId, "token-exchange"), roleArn: this.tokenExchangeRole.arn, credentialDuration: TOKEN_CREDENTIAL_SECONDS },
      child,
    );

    const gateways: Record<string, GatewayBootstrap> = {};
    const awaiting: string[] = [];
    for (const gateway of config.gateways) {
      const thing = thingName(factoryId, gateway.id);
      const resourceName = `${name}-${gateway.id}`;
      const thingResource = new aws.iot.Thing(resourceName, { name: thing, attributes: { factory: factoryId, gateway: gateway.id } }, child);
      new aws.iot.ThingGroupMembership(resourceName, { thingGroupName: this.thingGroup.name, thingName: thingResource.name }, child);
      const policy = new aws.iot.Policy(
        resourceName,
        { name: scopedName("iotPolicy", factoryId, gateway.id, "gateway"), policy: renderPolicy(gatewayPolicy(config, gateway, account, this.roleAlias.arn)) },
        child,
      );
      if (gateway.csr === undefined) {
        awaiting.push(gateway.id);
        gateways[gateway.id] = { thingName: thing, agentClientId: agentClientId(factoryId, gateway.id), certificateArn: undefined, certificatePem: undefined };
        continue;
      }
      const certificate = new aws.iot.Certificate(resourceName, { csr: gateway.csr, active: true }, child);
      new aws.iot.ThingPrincipalAttachment(
        resourceName,
        // EXCLUSIVE_THING: the thing policy variable resolves for the agent's client id too (see lib/iotPolicy)
        { thing: thingResource.name, principal: certificate.arn, thingPrincipalType: "EXCLUSIVE_THING" },
        child,
      );
      new aws.iot.PolicyAttachment(resourceName, { policy: policy.name, target: certificate.arn }, child);
      gateways[gateway.id] = { thingName: thing, agentClientId: agentClientId(factoryId, gateway.id), certificateArn: certificate.arn, certificatePem: certificate.certificatePem };
    }
    if (awaiting.length > 0) {
      void pulumi.log.warn(`gateways without a CSR get no certificate yet and cannot connect: ${awaiting.join(", ")} (set smart-factory:gateways[].csr)`, this);
    }
    this.gateways = gateways;
    this.awaitingCsr = awaiting;
    this.registerOutputs({ thingGroup: this.thingGroup.name, roleAlias: this.roleAlias.alias });
  }
}
