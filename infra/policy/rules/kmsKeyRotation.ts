/** Customer-managed keys rotate their key material automatically. */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { show } from "../lib";

export const kmsKeyRotation: ResourceValidationPolicy = {
  name: "kms-key-rotation",
  description: "Every customer-managed KMS key has automatic rotation on.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:kms/key:Key") return;
    // asymmetric and HMAC keys cannot rotate; every key of this program is a symmetric encryption key
    const spec = String(args.props.customerMasterKeySpec ?? args.props.keySpec ?? "SYMMETRIC_DEFAULT");
    if (spec === "SYMMETRIC_DEFAULT" && args.props.enableKeyRotation !== true) reportViolation(`KMS key ${args.name} does not rotate (enableKeyRotation is ${show(args.props.enableKeyRotation)})`);
  },
};
