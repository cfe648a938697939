/**
 * Every taggable resource carries the cost-allocation tags. The program sets them once, as the providers' default
 * tags (applied by AWS to every taggable resource the provider creates); a resource passes when its provider has
 * them or when its own tags do.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { REQUIRED_COST_TAGS } from "@smart-factory/sdk";
import { objectProperty } from "../lib";

/** Tags the program adds to the config's: the stack's factory. */
export const REQUIRED_TAGS: readonly string[] = [...REQUIRED_COST_TAGS, "Factory"];

/** Tag keys of a `tags` property: a map (`@pulumi/aws`) or a list of `{ key, value }` (`@pulumi/aws-native`). */
function tagKeys(tags: unknown): Set<string> {
  if (Array.isArray(tags)) return new Set(tags.map((t) => String((t as { key?: unknown }).key)));
  return new Set(Object.keys(objectProperty(tags) ?? {}));
}

export const costTags: ResourceValidationPolicy = {
  name: "required-cost-tags",
  description: `Every resource is tagged ${REQUIRED_TAGS.join(", ")} (by its provider's default tags or its own).`,
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type.startsWith("pulumi:providers:")) {
      if (!["pulumi:providers:aws", "pulumi:providers:aws-native"].includes(args.type)) return;
      const keys = tagKeys(objectProperty(args.props.defaultTags)?.tags);
      const missing = REQUIRED_TAGS.filter((k) => !keys.has(k));
      if (missing.length > 0) reportViolation(`provider ${args.name} does not set the default tag(s) ${missing.join(", ")}`);
      return;
    }
    if (!args.type.startsWith("aws:") && !args.type.startsWith("aws-native:")) return;
    const own = tagKeys(args.props.tags);
    const inherited = tagKeys(objectProperty(args.provider?.props.defaultTags)?.tags);
    const missing = REQUIRED_TAGS.filter((k) => !own.has(k) && !inherited.has(k));
    if (missing.length > 0) reportViolation(`${args.name} would not carry the tag(s) ${missing.join(", ")} (neither its tags nor its provider's default tags set them)`);
  },
};
