/**
 * The smart-factory policy pack, for the Pulumi CLI: `pulumi preview --policy-pack infra/policy`. Building a
 * `PolicyPack` starts the analyzer's gRPC server, so it happens only here; the rules live in `rules/` and
 * `npm run policy` runs them in-process (`engine.ts`) without the CLI.
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("smart-factory", {
  description: "Security, durability and cost rules every factory stack must follow",
  policies: [...POLICIES],
});
