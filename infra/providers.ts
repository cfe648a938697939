/**
 * Explicit providers built from the validated stack config: every resource of the program goes through one of
 * them, so the region and the cost tags come from `Pulumi.<stack>.yaml` and never from the environment of the
 * machine that runs `pulumi up`.
 */
import * as aws from "@pulumi/aws";
import * as awsnative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import type { FactoryConfig } from "@smart-factory/sdk";
import type { AccountContext } from "./lib/iam";

/** The two providers of a stack and what they were built from. */
export interface Providers {
  readonly aws: aws.Provider;
  readonly native: awsnative.Provider;
  /** Tags every taggable resource carries (cost tags from config, plus the factory and the stack). */
  readonly tags: Readonly<Record<string, string>>;
  /** Account, partition and region of the stack, for ARNs. */
  readonly account: AccountContext;
}

/** The tags of every resource: the config's cost tags, then ours (which the config cannot override). */
export function stackTags(config: FactoryConfig, stack: string): Record<string, string> {
  return { ...config.tags, Factory: config.factory.id, PulumiStack: stack, ManagedBy: "pulumi" };
}

/** Build the `aws` and `aws-native` providers of the stack from its config. */
export function createProviders(config: FactoryConfig): Providers {
  const tags = stackTags(config, pulumi.getStack());
  const awsProvider = new aws.Provider("aws", { region: config.region, defaultTags: { tags } });
  const native = new awsnative.Provider("aws-native", { region: config.region as awsnative.Region, defaultTags: { tags } });
  const identity = aws.getCallerIdentityOutput({}, { provider: awsProvider });
  const partition = aws.getPartitionOutput({}, { provider: awsProvider });
  return { aws: awsProvider, native, tags, account: { accountId: identity.accountId, partition: partition.partition, region: config.region } };
}
