/**
 * Notifications: the factory's SNS topic, encrypted with the notifications key, that alerts (the detector Lambda),
 * CloudWatch alarms and EventBridge rules publish to, with an e-mail subscription per address in
 * `smart-factory:alerts.notify.emails` (each address confirms its subscription once). The topic policy lets the two
 * service principals publish only for this account, and nobody use the topic without TLS.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { scopedName, type FactoryConfig } from "@smart-factory/sdk";
import { policyDocument, renderPolicy, type AccountContext } from "../lib/iam";

export interface NotificationsArgs {
  readonly config: FactoryConfig;
  readonly account: AccountContext;
  readonly notificationsKeyArn: pulumi.Input<string>;
}

/** The services that publish to the topic as service principals. */
export const PUBLISHING_SERVICES = ["cloudwatch.amazonaws.com", "events.amazonaws.com"] as const;

/** The factory's notification topic and its subscriptions. */
export class Notifications extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly subscriptions: aws.sns.TopicSubscription[];

  constructor(name: string, args: NotificationsArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:notifications:Notifications", name, {}, opts);
    const { config, account } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    this.topic = new aws.sns.Topic(
      name,
      { name: scopedName("snsTopic", factoryId, "notifications"), displayName: `${config.factory.name} alerts`, kmsMasterKeyId: args.notificationsKeyArn },
      child,
    );
    new aws.sns.TopicPolicy(
      name,
      {
        arn: this.topic.arn,
        policy: renderPolicy(
          policyDocument(
            {
              Sid: "AlarmsAndEventRulesOfThisAccount",
              Principal: { Service: [...PUBLISHING_SERVICES] },
              Action: ["sns:Publish"],
              Resource: [this.topic.arn],
              Condition: { StringEquals: { "aws:SourceAccount": account.accountId } },
            },
            {
              Sid: "DenyWithoutTls",
              Effect: "Deny",
              Principal: { AWS: "*" },
              Action: ["sns:Publish", "sns:Subscribe", "sns:Receive"],
              Resource: [this.topic.arn],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ),
        ),
      },
      child,
    );
    this.subscriptions = config.alerts.notify.emails.map(
      (email, i) => new aws.sns.TopicSubscription(`${name}-email-${i}`, { topic: this.topic.arn, protocol: "email", endpoint: email }, child),
    );
    this.registerOutputs({ topic: this.topic.arn });
  }
}
