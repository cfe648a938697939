/**
 * Maps the SDK's provider-neutral SiteWise model definitions (`@smart-factory/sdk` `oee/sitewise`) to the
 * arguments of `@pulumi/aws-native`'s `iotsitewise.AssetModel`. Pure: tested without mocks.
 */
import type * as awsnative from "@pulumi/aws-native";
import type * as pulumi from "@pulumi/pulumi";
import { checkName, type SiteWiseModelDefinition, type SiteWisePropertyDefinition, type SiteWiseVariable } from "@smart-factory/sdk";

type PropertyArgs = awsnative.types.input.iotsitewise.AssetModelPropertyArgs;
type VariableArgs = awsnative.types.input.iotsitewise.AssetModelExpressionVariableArgs;
type ModelArgs = awsnative.iotsitewise.AssetModelArgs;

/** The account-wide name of a factory's asset model: `<factory>-<model key>`. */
export function assetModelName(factoryId: string, key: string): string {
  return checkName("sitewiseModel", `${factoryId}-${key}`);
}

function variables(vars: readonly SiteWiseVariable[]): VariableArgs[] {
  return vars.map((v) => ({
    name: v.name,
    value: { propertyLogicalId: v.propertyLogicalId, ...(v.hierarchyLogicalId === undefined ? {} : { hierarchyLogicalId: v.hierarchyLogicalId }) },
  }));
}

/** One property definition as `AssetModelPropertyArgs`. */
export function propertyArgs(p: SiteWisePropertyDefinition): PropertyArgs {
  const common = { logicalId: p.logicalId, name: p.name, dataType: p.dataType, ...(p.unit === undefined ? {} : { unit: p.unit }) };
  switch (p.kind) {
    case "measurement":
      return { ...common, type: { typeName: "Measurement" } };
    case "attribute":
      return { ...common, type: { typeName: "Attribute", attribute: p.defaultValue === undefined ? {} : { defaultValue: p.defaultValue } } };
    case "transform":
      return { ...common, type: { typeName: "Transform", transform: { expression: p.expression, variables: variables(p.variables) } } };
    case "metric":
      return { ...common, type: { typeName: "Metric", metric: { expression: p.expression, variables: variables(p.variables), window: { tumbling: { interval: p.window } } } } };
  }
}

/**
 * The `AssetModel` arguments of a definition; `childModelIds` maps each hierarchy's child model key to the id
 * of the model created for it (children are created first).
 */
export function assetModelArgs(factoryId: string, model: SiteWiseModelDefinition, childModelIds: ReadonlyMap<string, pulumi.Input<string>>, description: string): ModelArgs {
  return {
    assetModelName: assetModelName(factoryId, model.key),
    assetModelDescription: description,
    assetModelProperties: model.properties.map(propertyArgs),
    assetModelHierarchies: model.hierarchies.map((h) => {
      const childAssetModelId = childModelIds.get(h.childModelKey);
      if (childAssetModelId === undefined) throw new Error(`asset model ${model.key}: its child model ${h.childModelKey} must be created before it`);
      return { logicalId: h.logicalId, name: h.name, childAssetModelId };
    }),
  };
}
