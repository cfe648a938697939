/**
 * DigitalTwin: the factory in IoT SiteWise. One asset model per machine type, per kind of line and for the
 * factory, generated from the SDK's one OEE definition (`twinModels`): machines compute their additive per-window
 * metrics and the guarded A/P/Q/OEE ratios; lines and the factory sum their children's additive metrics and take
 * the same ratios of the sums. One asset per machine, line and factory, associated in that hierarchy.
 *
 * Machines' `state`, `goodParts` and `badParts` carry the aliases the state rule writes to (built by the SDK);
 * `idealRunRate` is an attribute whose value differs per machine, which CloudFormation cannot set per asset: a
 * small function sets the values at deploy time, and again whenever the config changes them.
 */
import * as aws from "@pulumi/aws";
import * as awsnative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import {
  FACTORY_MODEL_KEY,
  hierarchyLogicalId,
  listMachines,
  MACHINE_PROPERTIES,
  machineModelKey,
  machinePropertyAlias,
  twinModels,
  type FactoryConfig,
  type SiteWiseModelDefinition,
} from "@smart-factory/sdk";
import { FactoryFunction, type FunctionPlacement } from "../lib/factoryFunction";
import { assetModelArgs } from "../lib/sitewise";

export interface DigitalTwinArgs {
  readonly config: FactoryConfig;
  readonly logsKeyArn: pulumi.Input<string>;
  readonly dataKeyArn: pulumi.Input<string>;
  readonly region: string;
  /** The VPC placement of the attribute function, when the factory has a VPC. */
  readonly placement?: FunctionPlacement;
}


/** The factory's asset models and assets. */
export class DigitalTwin extends pulumi.ComponentResource {
  readonly models: ReadonlyMap<string, awsnative.iotsitewise.AssetModel>;
  readonly machineAssets: ReadonlyMap<string, awsnative.iotsitewise.Asset>;
  readonly lineAssets: ReadonlyMap<string, awsnative.iotsitewise.Asset>;
  readonly factoryAsset: awsnative.iotsitewise.Asset;
  /** ARNs of every asset, for the policies of whatever writes to them. */
  readonly assetArns: pulumi.Output<string[]>;
  /** The deploy-time function that writes the machines' attribute values (alarmed like every function). */
  readonly attributesFunction: FactoryFunction;

  constructor(name: string, args: DigitalTwinArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super("smart-factory:twin:DigitalTwin", name, {}, opts);
    const { config } = args;
    const factoryId = config.factory.id;
    const child = { parent: this };
    const twin = twinModels(config);

    const models = new Map<string, awsnative.iotsitewise.AssetModel>();
    const describe = (m: SiteWiseModelDefinition): string =>
      m.key === FACTORY_MODEL_KEY
        ? `${config.factory.name}: OEE of the factory from its lines`
        : m.hierarchies.length === 0
          ? `${config.factory.name}: a ${m.key.replace(/^machine-/, "")}, its state, parts and OEE per ${twin.window}`
          : `${config.factory.name}: a line of ${m.hierarchies.map((h) => h.childModelKey.replace(/^machine-/, "")).join(", ")}, OEE from its machines`;
    for (const model of twin.all) {
      const ids = new Map(model.hierarchies.map((h) => [h.childModelKey, models.get(h.childModelKey)?.assetModelId ?? pulumi.output("")]));
      models.set(model.key, new awsnative.iotsitewise.AssetModel(`${name}-${model.key}`, assetModelArgs(factoryId, model, ids, describe(model)), child));
    }
    const modelId = (key: string): pulumi.Output<string> => {
      const model = models.get(key);
      if (model === undefined) throw new Error(`no asset model ${key}`);
      return model.assetModelId;
    };

    const machineAssets = new Map<string, awsnative.iotsitewise.Asset>();
    for (const { line, machine } of listMachines(config)) {
      const alias = (property: string): string => machinePropertyAlias(factoryId, line.id, machine.id, property);
      machineAssets.set(
        machine.id,
        new awsnative.iotsitewise.Asset(
          `${name}-machine-${machine.id}`,
          {
            assetName: `${factoryId}/${line.id}/${machine.id}`,
            assetDescription: machine.name,
            assetModelId: modelId(machineModelKey(machine.type)),
            assetProperties: Object.values(MACHINE_PROPERTIES).map((p) => ({ logicalId: p, alias: alias(p) })),
          },
          child,
        ),
      );
    }
    const lineAssets = new Map<string, awsnative.iotsitewise.Asset>();
    for (const line of config.lines) {
      lineAssets.set(
        line.id,
        new awsnative.iotsitewise.Asset(
          `${name}-line-${line.id}`,
          {
            assetName: `${factoryId}/${line.id}`,
            assetDescription: line.name,
            assetModelId: modelId(twin.lineModelOf(line.id).key),
            assetHierarchies: line.machines.map((m) => ({ logicalId: hierarchyLogicalId(machineModelKey(m.type)), childAssetId: machineAssets.get(m.id)?.assetId ?? pulumi.output("") })),
          },
          child,
        ),
      );
    }
    this.factoryAsset = new awsnative.iotsitewise.Asset(
      `${name}-factory`,
      {
        assetName: factoryId,
        assetDescription: config.factory.name,
        assetModelId: modelId(FACTORY_MODEL_KEY),
        assetHierarchies: config.lines.map((l) => ({ logicalId: hierarchyLogicalId(twin.lineModelOf(l.id).key), childAssetId: lineAssets.get(l.id)?.assetId ?? pulumi.output("") })),
      },
      child,
    );
    this.models = models;
    this.machineAssets = machineAssets;
    this.lineAssets = lineAssets;
    const machineArns = [...machineAssets.values()].map((a) => a.assetArn);
    this.assetArns = pulumi.all([...machineArns, ...[...lineAssets.values()].map((a) => a.assetArn), this.factoryAsset.assetArn]);

    this.attributesFunction = this.setIdealRunRates(name, config, args, machineArns);
    this.registerOutputs({ factoryAssetId: this.factoryAsset.assetId });
  }

  /** The deploy-time function that sets each machine's `idealRunRate`, and its invocation. */
  private setIdealRunRates(name: string, config: FactoryConfig, args: DigitalTwinArgs, machineArns: pulumi.Output<string>[]): FactoryFunction {
    const factoryId = config.factory.id;
    const fn = new FactoryFunction(
      `${name}-attributes`,
      {
        factoryId,
        shortName: "twin-attributes",
        description: "Sets per-machine attribute values of the digital twin (invoked by pulumi up)",
        entry: "lambdas/twin-attributes/index.ts",
        region: args.region,
        dataKeyArn: args.dataKeyArn,
        statements: [{ Sid: "SetMachineAttributes", Action: ["iotsitewise:BatchPutAssetPropertyValue"], Resource: machineArns }],
        logsKeyArn: args.logsKeyArn,
        ...(args.placement === undefined ? {} : { placement: args.placement }),
      },
      { parent: this },
    );
    const values = listMachines(config).map(({ line, machine }) => ({ alias: machinePropertyAlias(factoryId, line.id, machine.id, MACHINE_PROPERTIES.idealRunRate), value: machine.idealRunRate }));
    const input = JSON.stringify({ values });
    new aws.lambda.Invocation(
      `${name}-ideal-run-rates`,
      { functionName: fn.function.name, input, triggers: { values: input } },
      // the assets must exist before their attributes are set
      { parent: this, dependsOn: [...this.machineAssets.values(), fn] },
    );
    return fn;
  }
}
