/**
 * An IoT policy lets a device act only as itself: no `iot:*`, no `*` resource, no `topic/*`, and every client,
 * topic, topic filter and thing resource scoped by the connected thing's name (a policy variable).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { THING_NAME_POLICY_VARIABLE } from "@smart-factory/sdk";
import { asList, isWildcard, statementName, statementsOf } from "../lib";

/** The policy variable that resolves to the connected thing. */
export const THING_VARIABLE = THING_NAME_POLICY_VARIABLE;

const SCOPED_KINDS = ["client", "topic", "topicfilter", "thing"];

export const iotPolicyScoped: ResourceValidationPolicy = {
  name: "iot-policy-scoped-to-the-gateway",
  description: "IoT policies use no wildcard action and scope every client, topic and thing to the connected thing's own name.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:iot/policy:Policy") return;
    const statements = statementsOf(args.props.policy);
    if (statements === undefined) {
      reportViolation("policy is not a policy document");
      return;
    }
    statements.forEach((s, i) => {
      if ((s.Effect ?? "Allow") !== "Allow") return;
      const where = statementName(s, i);
      for (const action of asList(s.Action)) if (isWildcard(action)) reportViolation(`${where} allows wildcard action ${action}`);
      for (const resource of asList(s.Resource)) {
        if (resource === "*") {
          reportViolation(`${where} allows ${asList(s.Action).join(", ")} on every resource ("*")`);
          continue;
        }
        const kind = /^arn:[^:]+:iot:[^:]*:[^:]*:([a-z]+)\/(.*)$/.exec(resource);
        if (kind === null || !SCOPED_KINDS.includes(kind[1] ?? "")) continue;
        const rest = kind[2] ?? "";
        if (rest === "*" || rest === "#") reportViolation(`${where} allows every ${kind[1]} (${resource})`);
        else if (!rest.includes(THING_VARIABLE)) reportViolation(`${where}: ${resource} is not scoped to the connected thing (${THING_VARIABLE})`);
      }
    });
  },
};
