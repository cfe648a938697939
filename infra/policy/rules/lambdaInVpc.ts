/**
 * When the factory has a VPC, every Lambda runs in it (subnets and security groups set). A factory whose VPC is
 * switched off in config gets the advisory `vpc-disabled-notice` instead, so the choice is visible in every run.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { asList, objectProperty } from "../lib";

const VPC_TYPES = ["awsx:ec2:Vpc", "aws:ec2/vpc:Vpc"];
const FUNCTION = "aws:lambda/function:Function";

/** Whether a function has a VPC placement (its ids may be unknown in a preview; the settings are there). */
function inVpc(fn: PolicyResource): boolean {
  const vpc = objectProperty(fn.props.vpcConfig);
  if (vpc === undefined) return false;
  const depends = (fn.propertyDependencies.vpcConfig ?? []).length > 0;
  return depends || (asList(vpc.subnetIds as string[] | undefined).length > 0 && asList(vpc.securityGroupIds as string[] | undefined).length > 0);
}

export const lambdaInVpc: StackValidationPolicy = {
  name: "lambda-in-vpc",
  description: "When the stack has a VPC, every Lambda function runs in its subnets with a security group.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    if (!args.resources.some((r) => VPC_TYPES.includes(r.type))) return;
    for (const fn of args.resources.filter((r) => r.type === FUNCTION)) {
      if (!inVpc(fn)) reportViolation(`function ${String(fn.props.name ?? fn.name)} is not in the factory's VPC (no vpcConfig with subnets and security groups)`, fn.urn);
    }
  },
};

export const vpcDisabledNotice: StackValidationPolicy = {
  name: "vpc-disabled-notice",
  description: "Says so when a stack has Lambdas but no VPC (smart-factory:features.vpc.enabled = false).",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    if (args.resources.some((r) => VPC_TYPES.includes(r.type))) return;
    const functions = args.resources.filter((r) => r.type === FUNCTION);
    if (functions.length > 0) {
      reportViolation(`the VPC is disabled by config (smart-factory:features.vpc.enabled = false): ${functions.length} Lambda function(s) reach AWS over public endpoints`);
    }
  },
};
