/**
 * A Lambda function of the factory as every one of them is built: bundled from its TypeScript by the program,
 * arm64 on the current Node runtime, JSON logs into its own log group (encrypted, with retention), a role of
 * its own that may do exactly what `statements` say plus writing its logs, a dead-letter queue for failed
 * asynchronous invocations, and, when the factory has a VPC, a place in the VPC's isolated subnets behind the
 * Lambdas' security group.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, type FactoryId } from "@smart-factory/sdk";
import { bundleArchive, bundleHandler, LAMBDA_RUNTIME } from "./bundle";
import { policyDocument, renderPolicy, trustPolicy, type Statement } from "./iam";

/** Days a function's logs are kept. */
export const LOG_RETENTION_DAYS = 90;

/** Subnets and security groups of a function in the factory's VPC. */
export interface FunctionPlacement {
  readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  readonly securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
}

/**
 * What the Lambda service does with a function's role to place it in a VPC: create, describe and delete its
 * network interfaces. AWS documents these actions on `*` (they have no resource-level permissions that a
 * function's own interfaces could be named by before they exist).
 */
export const VPC_ACCESS_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
] as const;

export interface FactoryFunctionArgs {
  readonly factoryId: FactoryId;
  readonly region: string;
  /** Short name: the function is `<factory>-<name>`, its role the same. */
  readonly shortName: string;
  readonly description: string;
  /** Entry file, relative to the repository root. */
  readonly entry: string;
  /** Files bundled beside the code (e.g. the inventory). */
  readonly files?: Readonly<Record<string, string>>;
  /** What the function may do besides writing its logs. */
  readonly statements: Statement[];
  readonly logsKeyArn: pulumi.Input<string>;
  readonly memorySize?: number;
  readonly timeout?: number;
  readonly environment?: Record<string, pulumi.Input<string>>;
  /** The factory's data key: it encrypts the environment and the dead-letter queue. */
  readonly dataKeyArn: pulumi.Input<string>;
  /** The VPC placement, when the factory has a VPC. */
  readonly placement?: FunctionPlacement;
}

/** Days a failed invocation waits in a dead-letter queue (the SQS maximum). */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

/** One function with its role, role policy, log group and dead-letter queue. */
export class FactoryFunction extends pulumi.ComponentResource {
  readonly function: aws.lambda.Function;
  /** Where failed asynchronous invocations go (the event, with the error), instead of vanishing. */
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly role: aws.iam.Role;
  readonly rolePolicy: aws.iam.RolePolicy;
  readonly logGroup: aws.cloudwatch.LogGroup;

  constructor(name: string, args: FactoryFunctionArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:lambda:FactoryFunction", name, {}, opts);
    const child = { parent: this };
    const functionName = scopedName("lambdaFunction", args.factoryId, args.shortName);
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { name: scopedName("sqsQueue", args.factoryId, args.shortName, "dlq"), kmsMasterKeyId: args.dataKeyArn, kmsDataKeyReusePeriodSeconds: 3600, messageRetentionSeconds: DLQ_RETENTION_SECONDS },
      { ...child, retainOnDelete: true },
    );
    this.logGroup = new aws.cloudwatch.LogGroup(name, { name: `/aws/lambda/${functionName}`, retentionInDays: LOG_RETENTION_DAYS, kmsKeyId: args.logsKeyArn }, child);
    this.role = new aws.iam.Role(
      name,
      { name: scopedName("iamRole", args.factoryId, args.shortName), description: args.description, assumeRolePolicy: renderPolicy(trustPolicy("lambda.amazonaws.com")) },
      child,
    );
    this.rolePolicy = new aws.iam.RolePolicy(
      name,
      {
        role: this.role.name,
        policy: renderPolicy(
          policyDocument(
            ...args.statements,
            { Sid: "FailedInvocationsToDlq", Action: ["sqs:SendMessage"], Resource: [this.deadLetterQueue.arn] },
            {
              Sid: "UseTheDataKey",
              Action: ["kms:GenerateDataKey", "kms:Decrypt"],
              Resource: [args.dataKeyArn],
              Condition: { StringEquals: { "kms:ViaService": [`sqs.${args.region}.amazonaws.com`, `lambda.${args.region}.amazonaws.com`] } },
            },
            { Sid: "WriteOwnLogs", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [pulumi.interpolate`${this.logGroup.arn}:*`] },
            ...(args.placement === undefined ? [] : [{ Sid: "NetworkInterfacesInTheVpc", Action: [...VPC_ACCESS_ACTIONS], Resource: "*" }]),
          ),
        ),
      },
      child,
    );
    const bundle = bundleHandler(args.entry, args.files);
    this.function = new aws.lambda.Function(
      name,
      {
        name: functionName,
        description: args.description,
        runtime: LAMBDA_RUNTIME,
        architectures: ["arm64"],
        handler: "index.handler",
        code: bundleArchive(bundle),
        sourceCodeHash: bundle.sha256,
        role: this.role.arn,
        memorySize: args.memorySize ?? 256,
        timeout: args.timeout ?? 60,
        loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name, applicationLogLevel: "INFO", systemLogLevel: "WARN" },
        ...(args.environment === undefined ? {} : { environment: { variables: args.environment } }),
        kmsKeyArn: args.dataKeyArn,
        deadLetterConfig: { targetArn: this.deadLetterQueue.arn },
        ...(args.placement === undefined ? {} : { vpcConfig: { subnetIds: args.placement.subnetIds, securityGroupIds: args.placement.securityGroupIds } }),
      },
      // the role's permissions (log writes, network interfaces) must exist before the function starts
      { ...child, dependsOn: [this.logGroup, this.rolePolicy] },
    );
    this.registerOutputs({ name: this.function.name, arn: this.function.arn });
  }
}
