/** Log groups keep logs for a bounded time: `retentionInDays` 0 or unset means forever (and a growing bill). */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { show } from "../lib";

export const logRetention: ResourceValidationPolicy = {
  name: "log-group-retention",
  description: "Every CloudWatch log group has a finite retention.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:cloudwatch/logGroup:LogGroup") return;
    const days = Number(args.props.retentionInDays ?? 0);
    if (!(days > 0)) reportViolation(`log group ${String(args.props.name ?? args.name)} keeps logs forever (retentionInDays is ${show(args.props.retentionInDays)})`);
  },
};
