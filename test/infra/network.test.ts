import { strict as assert } from "node:assert";
import { NO_ENDPOINT_NEEDED } from "../../infra/lib/endpoints";
import { readStackConfig, renderStack, type RenderedStack, ofType } from "../helpers/stacks";


describe("infra: the factory network", function () {
  this.timeout(60_000);
  const rendered = new Map<string, RenderedStack>();
  before(async () => {
    for (const stack of ["factory-a", "factory-b", "factory-c"]) rendered.set(stack, await renderStack(stack, readStackConfig(stack)));
  });

  for (const stack of ["factory-a", "factory-b"]) {
    it(`${stack}: a VPC of isolated subnets in two zones, no NAT gateway, no internet route`, () => {
      const r = rendered.get(stack)!;
      const config = readStackConfig(stack) as Record<string, any>;
      const [vpc] = ofType(r, "awsx:ec2:Vpc");
      assert.ok(vpc);
      assert.equal(vpc.inputs.cidrBlock, config["smart-factory:features"].vpc.cidr);
      assert.ok(Number(vpc.inputs.numberOfAvailabilityZones) >= 2);
      assert.deepEqual(vpc.inputs.natGateways, { strategy: "None" });
      assert.deepEqual((vpc.inputs.subnetSpecs as { type: string }[]).map((s) => s.type), ["Isolated"]);
      for (const type of ["aws:ec2/natGateway:NatGateway", "aws:ec2/internetGateway:InternetGateway", "aws:ec2/eip:Eip"]) assert.equal(ofType(r, type).length, 0, type);
      for (const route of ofType(r, "aws:ec2/route:Route")) assert.equal(route.inputs.gatewayId, undefined, "no route to an internet gateway");
    });

    it(`${stack}: every Lambda runs in the VPC's isolated subnets behind the Lambdas' security group`, () => {
      const r = rendered.get(stack)!;
      const vpc = ofType(r, "awsx:ec2:Vpc")[0]!;
      const lambdaSg = ofType(r, "aws:ec2/securityGroup:SecurityGroup").find((g) => g.inputs.name === `${stack}-lambdas`)!;
      const functions = ofType(r, "aws:lambda/function:Function");
      // factories a and b (the VPC stacks) both run predictive maintenance, whose features export is a function too
      assert.deepEqual(functions.map((f) => f.inputs.name).sort(), ["detector", "enrich", "features-export", "twin-attributes"].map((f) => `${stack}-${f}`));
      for (const fn of functions) {
        const placement = fn.inputs.vpcConfig as { subnetIds: string[]; securityGroupIds: string[] };
        assert.deepEqual(placement.subnetIds, vpc.state.isolatedSubnetIds, `${String(fn.inputs.name)} subnets`);
        assert.deepEqual(placement.securityGroupIds, [lambdaSg.state.id]);
      }
    });

    it(`${stack}: an endpoint for every AWS service any Lambda's role names, with private DNS`, () => {
      const r = rendered.get(stack)!;
      const functionRoles = new Set(ofType(r, "aws:lambda/function:Function").map((f) => String(f.inputs.role)));
      const roles = ofType(r, "aws:iam/role:Role").filter((role) => functionRoles.has(String(role.state.arn)));
      assert.equal(roles.length, functionRoles.size);
      const policies = ofType(r, "aws:iam/rolePolicy:RolePolicy").filter((p) => roles.some((role) => role.state.name === p.inputs.role));
      const services = new Set(policies.flatMap((p) => (JSON.parse(p.inputs.policy as string) as { Statement: { Action: string[] }[] }).Statement.flatMap((s) => s.Action.map((a) => a.split(":")[0]!))));
      const endpoints = ofType(r, "aws:ec2/vpcEndpoint:VpcEndpoint");
      const region = r.mocks.region;
      const served: Record<string, RegExp> = {
        timestream: new RegExp(`^com\\.amazonaws\\.${region}\\.timestream\\.ingest-cell\\d+$`),
        s3: new RegExp(`^com\\.amazonaws\\.${region}\\.s3$`),
        sqs: new RegExp(`^com\\.amazonaws\\.${region}\\.sqs$`),
        kms: new RegExp(`^com\\.amazonaws\\.${region}\\.kms$`),
        logs: new RegExp(`^com\\.amazonaws\\.${region}\\.logs$`),
        iotsitewise: new RegExp(`^com\\.amazonaws\\.${region}\\.iotsitewise\\.data$`),
        dynamodb: new RegExp(`^com\\.amazonaws\\.${region}\\.dynamodb$`),
        sns: new RegExp(`^com\\.amazonaws\\.${region}\\.sns$`),
        firehose: new RegExp(`^com\\.amazonaws\\.${region}\\.kinesis-firehose$`),
        sagemaker: new RegExp(`^com\\.amazonaws\\.${region}\\.sagemaker\\.runtime$`),
      };
      for (const service of services) {
        if (NO_ENDPOINT_NEEDED.includes(service)) continue;
        const pattern = served[service];
        assert.ok(pattern, `the test knows the endpoint of ${service}`);
        assert.ok(endpoints.some((e) => pattern.test(String(e.inputs.serviceName))), `an endpoint serves ${service}`);
      }
      for (const e of endpoints.filter((x) => x.inputs.vpcEndpointType === "Interface")) assert.equal(e.inputs.privateDnsEnabled, true, String(e.inputs.serviceName));
      const cells = (readStackConfig(stack)["smart-factory:features"] as { vpc: { timestreamCells: { ingest: string; query: string } } }).vpc.timestreamCells;
      assert.ok(endpoints.some((e) => e.inputs.serviceName === `com.amazonaws.${region}.timestream.${cells.query}`), "the query cell from config");
      for (const name of ["monitoring", "sns", "sts", "kinesis-firehose", "scheduler", "sagemaker.runtime", "dynamodb"]) {
        assert.ok(endpoints.some((e) => e.inputs.serviceName === `com.amazonaws.${region}.${name}`), name);
      }
    });

    it(`${stack}: HTTPS only, only between the Lambdas and the endpoints; endpoint policies narrowed to the factory`, () => {
      const r = rendered.get(stack)!;
      const groups = ofType(r, "aws:ec2/securityGroup:SecurityGroup");
      const lambdaSg = groups.find((g) => g.inputs.name === `${stack}-lambdas`)!;
      const endpointSg = groups.find((g) => g.inputs.name === `${stack}-endpoints`)!;
      for (const g of groups) assert.equal(g.inputs.ingress, undefined, "no inline rules");
      const ingress = ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");
      assert.deepEqual(ingress.map((i) => [i.inputs.securityGroupId, i.inputs.referencedSecurityGroupId, i.inputs.fromPort, i.inputs.toPort]), [[endpointSg.state.id, lambdaSg.state.id, 443, 443]]);
      for (const e of ofType(r, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")) {
        assert.equal(e.inputs.securityGroupId, lambdaSg.state.id);
        assert.equal(e.inputs.fromPort, 443);
        assert.equal(e.inputs.cidrIpv4, undefined, "no egress to an address range");
      }
      for (const e of ofType(r, "aws:ec2/vpcEndpoint:VpcEndpoint").filter((x) => x.inputs.vpcEndpointType === "Interface")) assert.deepEqual(e.inputs.securityGroupIds, [endpointSg.state.id]);
      for (const key of ["s3", "dynamodb", "sqs", "sns"]) {
        const e = ofType(r, "aws:ec2/vpcEndpoint:VpcEndpoint").find((x) => x.name === `network-${key}`)!;
        const statements = (JSON.parse(e.inputs.policy as string) as { Statement: { Resource: string[] }[] }).Statement;
        for (const resource of statements.flatMap((s) => s.Resource)) assert.match(resource, new RegExp(`${stack}-`), `${key} endpoint policy: ${resource}`);
      }
    });
  }

  it("factory-c: the VPC switched off in config: no network, Lambdas outside, and the stack says so", () => {
    const r = rendered.get("factory-c")!;
    assert.equal(ofType(r, "awsx:ec2:Vpc").length, 0);
    assert.equal(ofType(r, "aws:ec2/vpcEndpoint:VpcEndpoint").length, 0);
    for (const fn of ofType(r, "aws:lambda/function:Function")) assert.equal(fn.inputs.vpcConfig, undefined);
    assert.match((r.exports.networking as { vpc: string }).vpc, /disabled by config/);
  });

  it("a VPC switched on without Timestream cells is a config error naming the key", async () => {
    const config = readStackConfig("factory-a");
    delete (config["smart-factory:features"] as { vpc: { timestreamCells?: unknown } }).vpc.timestreamCells;
    await assert.rejects(renderStack("factory-a", config), /smart-factory:features\.vpc\.timestreamCells: expected the Timestream cells \(ingest, query\) when the VPC is enabled/);
  });
});
