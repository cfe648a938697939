/**
 * No resource of a service AWS has retired for new customers: AWS IoT Analytics (end of support 2025-12-15), AWS
 * IoT Events (2026-05-20) and SiteWise Monitor's portals, projects, dashboards and access policies (closed to new
 * customers 2025-11-07). A new account cannot create them; the pipeline does their jobs with the successors.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";

/** Type prefixes of retired services, with the successor to use. */
export const RETIRED: readonly { readonly prefix: string; readonly service: string; readonly successor: string }[] = [
  { prefix: "aws:iotanalytics/", service: "AWS IoT Analytics", successor: "Firehose -> S3 (Parquet) + Glue + Athena" },
  { prefix: "aws-native:iotanalytics:", service: "AWS IoT Analytics", successor: "Firehose -> S3 (Parquet) + Glue + Athena" },
  { prefix: "aws:iotevents/", service: "AWS IoT Events", successor: "a detector Lambda with DynamoDB state and EventBridge Scheduler timers" },
  { prefix: "aws-native:iotevents:", service: "AWS IoT Events", successor: "a detector Lambda with DynamoDB state and EventBridge Scheduler timers" },
  { prefix: "aws-native:iotsitewise:Portal", service: "SiteWise Monitor", successor: "QuickSight or CloudWatch dashboards" },
  { prefix: "aws-native:iotsitewise:Project", service: "SiteWise Monitor", successor: "QuickSight or CloudWatch dashboards" },
  { prefix: "aws-native:iotsitewise:Dashboard", service: "SiteWise Monitor", successor: "QuickSight or CloudWatch dashboards" },
  { prefix: "aws-native:iotsitewise:AccessPolicy", service: "SiteWise Monitor", successor: "QuickSight or CloudWatch dashboards" },
];

export const noRetiredServices: ResourceValidationPolicy = {
  name: "no-retired-services",
  description: "No resource of AWS IoT Analytics, AWS IoT Events or SiteWise Monitor (portals, projects, dashboards).",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    const retired = RETIRED.find((r) => args.type.startsWith(r.prefix));
    if (retired !== undefined) reportViolation(`${args.type} belongs to ${retired.service}, which new AWS accounts can no longer use: use ${retired.successor}`);
  },
};
