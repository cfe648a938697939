/**
 * The VPC endpoints a factory's Lambdas need, one per AWS service they call, and which IAM action prefixes each
 * serves: with no NAT gateway and no internet route, a service without its endpoint is simply unreachable, so
 * tests check that every service a Lambda's role names has one here.
 */
import * as pulumi from "@pulumi/pulumi";
import type { TimestreamCells } from "@smart-factory/sdk";
import { arn, policyDocument, type AccountContext, type PolicyDocument } from "./iam";

/** How an endpoint attaches: to route tables (S3, DynamoDB) or as network interfaces in the subnets. */
export type EndpointType = "Gateway" | "Interface";

/** One service endpoint. */
export interface EndpointSpec {
  /** Short name, also the resource name suffix. */
  readonly key: string;
  readonly type: EndpointType;
  /** `com.amazonaws.<region>.<service>`. */
  readonly serviceName: string;
  /** IAM action prefixes (`timestream`, `s3`...) whose API calls go through this endpoint. */
  readonly iamPrefixes: readonly string[];
  /** A policy narrowed to the factory's resources, where the service supports endpoint policies. */
  readonly policy?: PolicyDocument;
}

/**
 * IAM prefixes a Lambda's role names for calls its code never makes, so they need no endpoint: `ec2`, with which
 * the Lambda service manages the function's network interfaces in the VPC.
 */
export const NO_ENDPOINT_NEEDED: readonly string[] = ["ec2"];

/** Every endpoint of a factory's VPC. */
export function endpointSpecs(factoryId: string, account: AccountContext, cells: TimestreamCells): EndpointSpec[] {
  const service = (name: string): string => `com.amazonaws.${account.region}.${name}`;
  const anyone = { AWS: "*" };
  const s3Policy = policyDocument({
    Sid: "FactoryBucketsOnly",
    Principal: anyone,
    Action: ["s3:GetObject", "s3:PutObject", "s3:GetBucketLocation", "s3:ListBucket"],
    Resource: [pulumi.interpolate`arn:${account.partition}:s3:::${factoryId}-*`, pulumi.interpolate`arn:${account.partition}:s3:::${factoryId}-*/*`],
  });
  const dynamoPolicy = policyDocument({
    Sid: "FactoryTablesOnly",
    Principal: anyone,
    Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"],
    Resource: [arn(account, "dynamodb", `table/${factoryId}-*`), arn(account, "dynamodb", `table/${factoryId}-*/index/*`)],
  });
  const sqsPolicy = policyDocument({
    Sid: "FactoryQueuesOnly",
    Principal: anyone,
    Action: ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"],
    Resource: [arn(account, "sqs", `${factoryId}-*`)],
  });
  const snsPolicy = policyDocument({ Sid: "FactoryTopicsOnly", Principal: anyone, Action: ["sns:Publish"], Resource: [arn(account, "sns", `${factoryId}-*`)] });
  return [
    { key: "s3", type: "Gateway", serviceName: service("s3"), iamPrefixes: ["s3"], policy: s3Policy },
    { key: "dynamodb", type: "Gateway", serviceName: service("dynamodb"), iamPrefixes: ["dynamodb"], policy: dynamoPolicy },
    { key: "logs", type: "Interface", serviceName: service("logs"), iamPrefixes: ["logs"] },
    { key: "monitoring", type: "Interface", serviceName: service("monitoring"), iamPrefixes: ["cloudwatch"] },
    { key: "sns", type: "Interface", serviceName: service("sns"), iamPrefixes: ["sns"], policy: snsPolicy },
    { key: "sqs", type: "Interface", serviceName: service("sqs"), iamPrefixes: ["sqs"], policy: sqsPolicy },
    { key: "kms", type: "Interface", serviceName: service("kms"), iamPrefixes: ["kms"] },
    { key: "sts", type: "Interface", serviceName: service("sts"), iamPrefixes: ["sts"] },
    { key: "firehose", type: "Interface", serviceName: service("kinesis-firehose"), iamPrefixes: ["firehose"] },
    { key: "scheduler", type: "Interface", serviceName: service("scheduler"), iamPrefixes: ["scheduler"] },
    { key: "sagemaker-runtime", type: "Interface", serviceName: service("sagemaker.runtime"), iamPrefixes: ["sagemaker"] },
    { key: "sitewise-data", type: "Interface", serviceName: service("iotsitewise.data"), iamPrefixes: ["iotsitewise"] },
    // Timestream's endpoints are per cell; DescribeEndpoints (endpoint discovery) is answered by both.
    { key: "timestream-ingest", type: "Interface", serviceName: service(`timestream.${cells.ingest}`), iamPrefixes: ["timestream"] },
    { key: "timestream-query", type: "Interface", serviceName: service(`timestream.${cells.query}`), iamPrefixes: ["timestream"] },
  ];
}
