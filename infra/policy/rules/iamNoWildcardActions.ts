/** No `Allow` grants a wildcard action or uses `NotAction`, in any IAM-grammar policy of the stack. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { asList, isWildcard, POLICY_PROPERTIES, statementName, statementsOf } from "../lib";

export const iamNoWildcardActions: ResourceValidationPolicy = {
  name: "iam-no-wildcard-actions",
  description: "No IAM, key, bucket or endpoint policy allows a wildcard action (`*`, `s3:*`, `s3:Get*`) or uses NotAction in an Allow.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const property = POLICY_PROPERTIES[args.type];
    if (property === undefined || args.props[property] === undefined) return;
    const statements = statementsOf(args.props[property]);
    if (statements === undefined) {
      reportViolation(`${property} is not a policy document`);
      return;
    }
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow") return;
      if (s.NotAction !== undefined) reportViolation(`${property} ${statementName(s, i)} allows NotAction ${JSON.stringify(s.NotAction)}: list the actions it needs`);
      const wild = asList(s.Action).filter(isWildcard);
      if (wild.length > 0) reportViolation(`${property} ${statementName(s, i)} allows wildcard action(s) ${wild.join(", ")}: list the actions it needs`);
    });
  },
};
