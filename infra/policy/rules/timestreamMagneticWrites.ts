/**
 * Timestream tables accept magnetic-store writes: a gateway's backlog after a long outage is older than the memory
 * store and would otherwise be rejected, i.e. lost.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { objectProperty } from "../lib";

export const timestreamMagneticWrites: ResourceValidationPolicy = {
  name: "timestream-magnetic-store-writes",
  description: "Timestream tables have magnetic-store writes on, with a rejected-data location.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:timestreamwrite/table:Table") return;
    const magnetic = objectProperty(args.props.magneticStoreWriteProperties);
    if (magnetic?.enableMagneticStoreWrites !== true) {
      reportViolation(`table ${String(args.props.tableName ?? args.name)} rejects records older than its memory store (magnetic-store writes off)`);
    } else if (objectProperty(magnetic.magneticStoreRejectedDataLocation) === undefined) {
      reportViolation(`table ${String(args.props.tableName ?? args.name)} has no rejected-data location: records the magnetic store rejects would vanish`);
    }
  },
};
