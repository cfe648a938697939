/**
 * An IAM identity policy names `*` as resource only for actions that have no resource-level permissions. The list
 * below is the whole exception, each entry with the reason AWS requires `*`.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { asList, IDENTITY_POLICY_TYPES, statementName, statementsOf } from "../lib";

/** Actions AWS authorizes only on `*`, and why we use them. */
export const WILDCARD_RESOURCE_ALLOW_LIST: Readonly<Record<string, string>> = {
  // Timestream SDKs discover the account's cell endpoint first; the call has no resource type.
  "timestream:DescribeEndpoints": "endpoint discovery of the Timestream SDK clients",
  // CloudWatch metrics have no ARN; the health rule's role narrows it with a cloudwatch:namespace condition.
  "cloudwatch:PutMetricData": "gateway health metrics (condition on the namespace)",
  // The Lambda service manages a function's network interfaces in the VPC with its role; interfaces that do not
  // exist yet cannot be named, and the Describe calls have no resource type.
  "ec2:CreateNetworkInterface": "Lambda in a VPC",
  "ec2:DescribeNetworkInterfaces": "Lambda in a VPC",
  "ec2:DescribeSubnets": "Lambda in a VPC",
  "ec2:DeleteNetworkInterface": "Lambda in a VPC",
  "ec2:AssignPrivateIpAddresses": "Lambda in a VPC",
  "ec2:UnassignPrivateIpAddresses": "Lambda in a VPC",
};

export const iamWildcardResources: ResourceValidationPolicy = {
  name: "iam-wildcard-resources-allow-list",
  description: "An IAM identity policy uses Resource \"*\" only for actions on the commented allow-list (actions without resource-level permissions).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (!IDENTITY_POLICY_TYPES.has(args.type)) return;
    const statements = statementsOf(args.props.policy) ?? [];
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow") return;
      if (s.NotResource !== undefined) reportViolation(`policy ${statementName(s, i)} uses NotResource ${JSON.stringify(s.NotResource)}: name the resources`);
      if (!asList(s.Resource).includes("*")) return;
      const outside = asList(s.Action).filter((a) => WILDCARD_RESOURCE_ALLOW_LIST[a] === undefined);
      if (outside.length > 0) reportViolation(`policy ${statementName(s, i)} grants ${outside.join(", ")} on Resource "*": name the resources (only actions without resource-level permissions may use "*")`);
    });
  },
};
