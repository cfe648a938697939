/** Every IoT topic rule has an error action: a message its action fails on is kept, not dropped. */
import type { ResourceValidationPolicy } from "@pulumi/policy";

export const topicRuleErrorAction: ResourceValidationPolicy = {
  name: "topic-rule-error-action",
  description: "Every IoT topic rule has an error action (to a dead-letter store).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const props = args.props as { topicRulePayload?: { errorAction?: unknown }; errorAction?: unknown; ruleName?: string; name?: string };
    const errorAction: unknown =
      args.type === "aws-native:iot:TopicRule" ? props.topicRulePayload?.errorAction : args.type === "aws:iot/topicRule:TopicRule" ? props.errorAction : null;
    if (errorAction === null) return;
    if (errorAction === undefined || (typeof errorAction === "object" && Object.keys(errorAction).length === 0)) {
      reportViolation(`topic rule ${props.ruleName ?? props.name ?? args.name} has no error action: a failed action would drop the message`);
    }
  },
};
