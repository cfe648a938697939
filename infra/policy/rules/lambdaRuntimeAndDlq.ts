/**
 * Lambda functions run on a supported Node runtime (`nodejs22.x` or newer: Node 20 on Lambda is deprecated) and
 * have a dead-letter target for failed asynchronous invocations.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { objectProperty } from "../lib";

/** The oldest Node major version a function may run on. */
export const MIN_NODE_MAJOR = 22;

export const lambdaRuntimeAndDlq: ResourceValidationPolicy = {
  name: "lambda-runtime-and-dead-letters",
  description: `Lambda functions run nodejs${MIN_NODE_MAJOR}.x or newer and have a dead-letter target.`,
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:lambda/function:Function") return;
    const name = String(args.props.name ?? args.name);
    const runtime = String(args.props.runtime ?? "");
    const node = /^nodejs(\d+)\.x$/.exec(runtime);
    if (node === null || Number(node[1]) < MIN_NODE_MAJOR) reportViolation(`function ${name} runs ${runtime || "no runtime"}: use nodejs${MIN_NODE_MAJOR}.x or newer`);
    const dlq = objectProperty(args.props.deadLetterConfig);
    if (dlq === undefined || !("targetArn" in dlq)) reportViolation(`function ${name} has no dead-letter target: failed asynchronous invocations would be lost`);
  },
};
