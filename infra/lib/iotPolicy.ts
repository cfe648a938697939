/**
 * The IoT policy of a gateway. The certificate is attached to its thing as `EXCLUSIVE_THING`, so the thing
 * policy variable resolves for both client ids the gateway uses: the Greengrass nucleus connects as the thing
 * name, the edge agent as `<thing>-agent` (the same id would disconnect the nucleus). The gateway may publish
 * only its own telemetry and health, and state only for machines of the lines it serves, on Basic Ingest topics;
 * besides that it gets exactly what a Greengrass core device needs for itself: its shadows, its jobs, its
 * deployment and health topics, the component artifacts, and its role alias.
 */
import * as pulumi from "@pulumi/pulumi";
import { MAX_AGENT_CONNECTIONS, policyTopic, statePolicyTopic, THING_NAME_POLICY_VARIABLE, type FactoryConfig, type Gateway } from "@smart-factory/sdk";
import { arn, policyDocument, type AccountContext, type PolicyDocument } from "./iam";

const THING = THING_NAME_POLICY_VARIABLE;

/** The numbers of an agent's further connections: 2 ... MAX_AGENT_CONNECTIONS. */
function agentConnectionNumbers(): number[] {
  return Array.from({ length: MAX_AGENT_CONNECTIONS - 1 }, (_, i) => i + 2);
}

/** The IoT policy document of one gateway. */
export function gatewayPolicy(config: FactoryConfig, gateway: Gateway, account: AccountContext, roleAliasArn: pulumi.Input<string>): PolicyDocument {
  const factoryId = config.factory.id;
  const iot = (resource: string): pulumi.Output<string> => arn(account, "iot", resource);
  const stateTopics = gateway.lines.map((lineId) => iot(`topic/${statePolicyTopic(factoryId, lineId)}`));
  const own = (suffix: string): string => `$aws/things/${THING}/${suffix}`;
  const greengrassTopics = [own("shadow/*"), own("jobs/*"), own("greengrassv2/health/json"), own("greengrass/health/json")];
  return policyDocument(
    {
      Sid: "ConnectAsItsThingOrItsAgent",
      Action: ["iot:Connect"],
      // the agent's further connections, when one cannot carry the gateway's load, are -agent-2 ... -agent-8
      Resource: [iot(`client/${THING}`), iot(`client/${THING}-agent`), ...agentConnectionNumbers().map((n) => iot(`client/${THING}-agent-${n}`))],
      Condition: { Bool: { "iot:Connection.Thing.IsAttached": true } },
    },
    {
      Sid: "PublishOwnDataOnBasicIngest",
      Action: ["iot:Publish"],
      Resource: [iot(`topic/${policyTopic(factoryId, "telemetry")}`), iot(`topic/${policyTopic(factoryId, "health")}`), ...stateTopics],
    },
    { Sid: "GreengrassCoreTopics", Action: ["iot:Publish", "iot:Receive"], Resource: greengrassTopics.map((t) => iot(`topic/${t}`)) },
    { Sid: "GreengrassCoreSubscriptions", Action: ["iot:Subscribe"], Resource: greengrassTopics.map((t) => iot(`topicfilter/${t}`)) },
    { Sid: "OwnShadows", Action: ["iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"], Resource: [iot(`thing/${THING}`)] },
    { Sid: "TokenExchange", Action: ["iot:AssumeRoleWithCertificate"], Resource: [roleAliasArn] },
    {
      Sid: "GreengrassDataPlaneForItself",
      Action: ["greengrass:ResolveComponentCandidates", "greengrass:GetDeploymentConfiguration", "greengrass:ListThingGroupsForCoreDevice"],
      Resource: [arn(account, "greengrass", `coreDevices:${THING}`)],
    },
    {
      // Artifacts of any component the deployment names, including AWS-provided ones such as the nucleus.
      Sid: "DownloadComponentArtifacts",
      Action: ["greengrass:GetComponentVersionArtifact"],
      Resource: [arn(account, "greengrass", "components:*")],
    },
  );
}
