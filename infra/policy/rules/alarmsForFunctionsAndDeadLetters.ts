/**
 * Every Lambda function and every dead-letter store has a CloudWatch alarm that notifies someone: a failing
 * function or a filling dead-letter queue must page someone. An alarm without an alarm action pages nobody and
 * does not count.
 */
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { objectProperty } from "../lib";

const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

/** Values the metric dimensions of alarms with an action name (function names, queue names, bucket names). */
function alarmedNames(resources: readonly PolicyResource[]): Set<string> {
  const names = new Set<string>();
  const paging = (r: PolicyResource) => Array.isArray(r.props.alarmActions) && r.props.alarmActions.length > 0;
  for (const alarm of resources.filter((r) => r.type === ALARM && paging(r))) {
    for (const value of Object.values(objectProperty(alarm.props.dimensions) ?? {})) names.add(String(value));
    for (const query of (alarm.props.metricQueries as { metric?: { dimensions?: Record<string, unknown> } }[] | undefined) ?? []) {
      for (const value of Object.values(query.metric?.dimensions ?? {})) names.add(String(value));
    }
  }
  return names;
}

export const alarmsForFunctionsAndDeadLetters: StackValidationPolicy = {
  name: "alarms-for-functions-and-dead-letters",
  description: "Every Lambda function and every dead-letter queue has a CloudWatch alarm with an alarm action.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const alarmed = alarmedNames(args.resources);
    const functions = args.resources.filter((r) => r.type === "aws:lambda/function:Function");
    const deadLetterQueues = args.resources.filter(
      (r) => r.type === "aws:sqs/queue:Queue" && functions.some((f) => (f.propertyDependencies.deadLetterConfig ?? []).some((d) => d.urn === r.urn)),
    );
    for (const r of [...functions, ...deadLetterQueues]) {
      const name = String(r.props.name ?? r.name);
      if (!alarmed.has(name)) reportViolation(`${r.type === "aws:sqs/queue:Queue" ? "dead-letter queue" : "function"} ${name} has no CloudWatch alarm that notifies anyone (an alarm with alarmActions)`, r.urn);
    }
  },
};
