/**
 * EdgeRuntime: the edge agent as a Greengrass v2 component of the factory, deployed to the factory's thing group.
 * The packaged agent (`npm run edge:package`, one zip per gateway OS and architecture, native addons built there)
 * is uploaded under a content-addressed key to an encrypted, private artifact bucket; the component version is
 * derived from the content (a version is immutable), and the deployment, which Greengrass replaces on any change,
 * names that version. The gateways' token-exchange role may read exactly the agent's artifacts. When the factory
 * names edge secrets, the deployment also installs Greengrass's secret manager configured to sync exactly them,
 * the role may read exactly them, and the agent's accessControl lets it read exactly them over IPC.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as awsnative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, type FactoryConfig } from "@smart-factory/sdk";
import { policyDocument, renderPolicy, type AccountContext } from "../lib/iam";
import { agentRecipe, artifactKey, edgeSecretArns, SECRET_MANAGER_COMPONENT, secretManagerConfiguration, type AgentArtifact } from "../lib/recipe";
import { bucketName, objectsUnder, SecureBucket } from "../lib/secureBucket";

/** Where `npm run edge:package` leaves the artifacts and their manifests (overridable for tests and CI). */
export function artifactDirectory(): string {
  return process.env.SF_EDGE_ARTIFACT_DIR ?? path.resolve(__dirname, "..", "..", "edge", "dist");
}

/** The packaged agents found in `dir` (`edge-agent-<platform>-<arch>.json` manifests whose zip exists). */
export function findArtifacts(dir: string = artifactDirectory()): AgentArtifact[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /^edge-agent-linux-(x64|arm64)\.json$/.test(f))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as AgentArtifact)
    .filter((a) => fs.existsSync(a.file));
}

export interface EdgeRuntimeArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly thingGroupArn: pulumi.Input<string>;
  readonly tokenExchangeRoleName: pulumi.Input<string>;
  readonly iotEndpoint: pulumi.Input<string>;
  readonly artifacts: readonly AgentArtifact[];
}

/** Artifact bucket, artifacts, component version and deployment. */
export class EdgeRuntime extends pulumi.ComponentResource {
  readonly bucket: SecureBucket;
  readonly component: awsnative.greengrassv2.ComponentVersion;
  readonly deployment: awsnative.greengrassv2.Deployment;
  readonly componentName: pulumi.Output<string>;
  readonly componentVersion: pulumi.Output<string>;

  constructor(name: string, args: EdgeRuntimeArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:edge:EdgeRuntime", name, {}, opts);
    const { config } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    this.bucket = new SecureBucket(`${name}-artifacts`, { bucketName: bucketName(factoryId, "edge-artifacts", args.account), kmsKeyArn: args.dataKeyArn }, child);
    const uploads = args.artifacts.map(
      (a) =>
        new aws.s3.BucketObjectv2(
          `${name}-${a.platform}-${a.arch}`,
          { bucket: this.bucket.name, key: artifactKey(a), source: new pulumi.asset.FileAsset(a.file), contentType: "application/zip" },
          child,
        ),
    );
    const recipe = pulumi.all([this.bucket.name, args.iotEndpoint]).apply(([bucket, endpoint]) => agentRecipe(config, args.artifacts, bucket, endpoint));
    this.componentName = recipe.apply((r) => r.name);
    this.componentVersion = recipe.apply((r) => r.version);
    // a component version is immutable: new content is a new resource, never an update in place
    this.component = new awsnative.greengrassv2.ComponentVersion(name, { inlineRecipe: recipe.apply((r) => r.recipe) }, { ...child, dependsOn: uploads, replaceOnChanges: ["inlineRecipe"] });
    new aws.iam.RolePolicy(
      `${name}-artifacts`,
      {
        role: args.tokenExchangeRoleName,
        policy: renderPolicy(
          policyDocument(
            { Sid: "DownloadAgentArtifacts", Action: ["s3:GetObject"], Resource: [objectsUnder(this.bucket.arn, "edge-agent/")] },
            {
              Sid: "DecryptAgentArtifacts",
              Action: ["kms:Decrypt"],
              Resource: [args.dataKeyArn],
              Condition: { StringEquals: { "kms:ViaService": `s3.${args.account.region}.amazonaws.com` } },
            },
          ),
        ),
      },
      child,
    );
    const secrets = edgeSecretArns(config);
    const secretsKey = config.edge?.secrets?.kmsKeyArn;
    if (secrets.length > 0) {
      // Greengrass's secret manager fetches the secrets with the gateways' role: exactly these, and their key only
      // through Secrets Manager
      new aws.iam.RolePolicy(
        `${name}-secrets`,
        {
          role: args.tokenExchangeRoleName,
          policy: renderPolicy(
            policyDocument(
              { Sid: "ReadEdgeSecrets", Action: ["secretsmanager:GetSecretValue"], Resource: secrets },
              ...(secretsKey === undefined
                ? []
                : [
                    {
                      Sid: "DecryptEdgeSecrets",
                      Action: ["kms:Decrypt"],
                      Resource: [secretsKey],
                      Condition: { StringEquals: { "kms:ViaService": `secretsmanager.${args.account.region}.amazonaws.com` } },
                    },
                  ]),
            ),
          ),
        },
        child,
      );
    }
    this.deployment = new awsnative.greengrassv2.Deployment(
      name,
      {
        targetArn: args.thingGroupArn,
        deploymentName: scopedName("greengrassComponent", factoryId, "edge"),
        components: pulumi.all([this.componentName, this.component.componentVersion]).apply(([componentName, componentVersion]) => ({
          [componentName]: { componentVersion },
          ...(secrets.length === 0
            ? {}
            : { [SECRET_MANAGER_COMPONENT.name]: { componentVersion: SECRET_MANAGER_COMPONENT.version, configurationUpdate: { merge: secretManagerConfiguration(config) } } }),
        })),
        deploymentPolicies: { failureHandlingPolicy: "ROLLBACK", componentUpdatePolicy: { action: "NOTIFY_COMPONENTS", timeoutInSeconds: 60 } },
      },
      // Greengrass replaces a deployment on any change; so does Pulumi
      { ...child, deleteBeforeReplace: true, replaceOnChanges: ["*"] },
    );
    this.registerOutputs({ componentName: this.componentName, componentVersion: this.componentVersion });
  }
}
