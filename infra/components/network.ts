/**
 * Network: the factory's private network for its Lambdas. A VPC (awsx) with isolated subnets only, in two or more
 * availability zones: no NAT gateway, no internet gateway, no route out. Every AWS service a Lambda calls is
 * reached through a VPC endpoint with private DNS (gateway endpoints for S3 and DynamoDB, interface endpoints for
 * the rest), with endpoint policies narrowed to the factory's resources where the service supports them. The
 * endpoints admit HTTPS only from the Lambdas' security group, and the Lambdas may send only HTTPS, only to the
 * endpoints.
 */
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";
import type { FactoryConfig, TimestreamCells } from "@smart-factory/sdk";
import { endpointSpecs, type EndpointSpec } from "../lib/endpoints";
import type { FunctionPlacement } from "../lib/factoryFunction";
import { renderPolicy, type AccountContext } from "../lib/iam";

export interface NetworkArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly cidr: string;
  readonly availabilityZones: number;
  readonly timestreamCells: TimestreamCells;
}

const HTTPS = 443;

/** The VPC, its endpoints and the two security groups. */
export class Network extends pulumi.ComponentResource {
  readonly vpc: awsx.ec2.Vpc;
  readonly lambdaSecurityGroup: aws.ec2.SecurityGroup;
  readonly endpointSecurityGroup: aws.ec2.SecurityGroup;
  readonly endpoints: Readonly<Record<string, aws.ec2.VpcEndpoint>>;
  readonly specs: readonly EndpointSpec[];
  /** The `vpcConfig` every Lambda of the factory gets. */
  readonly lambdaPlacement: FunctionPlacement;

  constructor(name: string, args: NetworkArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:network:Network", name, {}, opts);
    const factoryId = args.config.factory.id;
    const child = { parent: this };

    this.vpc = new awsx.ec2.Vpc(
      name,
      {
        cidrBlock: args.cidr,
        numberOfAvailabilityZones: args.availabilityZones,
        enableDnsHostnames: true, // private DNS of interface endpoints needs both
        enableDnsSupport: true,
        natGateways: { strategy: "None" },
        subnetSpecs: [{ type: "Isolated", name: "lambdas", cidrMask: 24 }],
        subnetStrategy: "Auto",
        tags: { Name: `${factoryId}-vpc` },
      },
      child,
    );

    // No inline rules: the provider removes AWS's default allow-all egress rule from a new group, and the rules
    // below are their own resources (inline rules and rule resources would fight over the same group).
    this.lambdaSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-lambdas`,
      { name: `${factoryId}-lambdas`, description: "The factory's Lambdas: HTTPS out to the VPC endpoints only", vpcId: this.vpc.vpcId },
      child,
    );
    this.endpointSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      { name: `${factoryId}-endpoints`, description: "VPC interface endpoints: HTTPS in from the factory's Lambdas only", vpcId: this.vpc.vpcId },
      child,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-endpoints-https-from-lambdas`,
      { securityGroupId: this.endpointSecurityGroup.id, referencedSecurityGroupId: this.lambdaSecurityGroup.id, ipProtocol: "tcp", fromPort: HTTPS, toPort: HTTPS, description: "HTTPS from the Lambdas" },
      child,
    );
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-lambdas-https-to-endpoints`,
      { securityGroupId: this.lambdaSecurityGroup.id, referencedSecurityGroupId: this.endpointSecurityGroup.id, ipProtocol: "tcp", fromPort: HTTPS, toPort: HTTPS, description: "HTTPS to the interface endpoints" },
      child,
    );

    const routeTableIds = this.vpc.routeTables.apply((tables) => pulumi.all(tables.map((t) => t.id)));
    this.specs = endpointSpecs(factoryId, args.account, args.timestreamCells);
    const endpoints: Record<string, aws.ec2.VpcEndpoint> = {};
    for (const spec of this.specs) {
      const endpoint = new aws.ec2.VpcEndpoint(
        `${name}-${spec.key}`,
        {
          vpcId: this.vpc.vpcId,
          serviceName: spec.serviceName,
          vpcEndpointType: spec.type,
          ...(spec.type === "Gateway"
            ? { routeTableIds }
            : { subnetIds: this.vpc.isolatedSubnetIds, securityGroupIds: [this.endpointSecurityGroup.id], privateDnsEnabled: true }),
          ...(spec.policy === undefined ? {} : { policy: renderPolicy(spec.policy) }),
          tags: { Name: `${factoryId}-${spec.key}` },
        },
        child,
      );
      endpoints[spec.key] = endpoint;
      if (spec.type === "Gateway") {
        // gateway endpoints are reached through their prefix list, not the endpoint security group
        new aws.vpc.SecurityGroupEgressRule(
          `${name}-lambdas-https-to-${spec.key}`,
          { securityGroupId: this.lambdaSecurityGroup.id, prefixListId: endpoint.prefixListId, ipProtocol: "tcp", fromPort: HTTPS, toPort: HTTPS, description: `HTTPS to ${spec.key} (gateway endpoint)` },
          child,
        );
      }
    }
    this.endpoints = endpoints;
    this.lambdaPlacement = { subnetIds: this.vpc.isolatedSubnetIds, securityGroupIds: [this.lambdaSecurityGroup.id] };
    this.registerOutputs({ vpcId: this.vpc.vpcId });
  }
}
