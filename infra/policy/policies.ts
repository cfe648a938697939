/** Every rule of the pack, in the order reports list them. */
import type { Rule } from "./lib";
import { alarmsForFunctionsAndDeadLetters } from "./rules/alarmsForFunctionsAndDeadLetters";
import { cmkEncryption } from "./rules/cmkEncryption";
import { costTags } from "./rules/costTags";
import { iamNoWildcardActions } from "./rules/iamNoWildcardActions";
import { iamWildcardResources } from "./rules/iamWildcardResources";
import { iotPolicyScoped } from "./rules/iotPolicyScoped";
import { kmsKeyRotation } from "./rules/kmsKeyRotation";
import { lambdaInVpc, vpcDisabledNotice } from "./rules/lambdaInVpc";
import { lambdaRuntimeAndDlq } from "./rules/lambdaRuntimeAndDlq";
import { logRetention } from "./rules/logRetention";
import { noRetiredServices } from "./rules/noRetiredServices";
import { s3BucketHardening } from "./rules/s3BucketHardening";
import { statefulProtected } from "./rules/statefulProtected";
import { timestreamMagneticWrites } from "./rules/timestreamMagneticWrites";
import { topicRuleErrorAction } from "./rules/topicRuleErrorAction";

export const POLICIES: readonly Rule[] = [
  iamNoWildcardActions,
  iamWildcardResources,
  iotPolicyScoped,
  topicRuleErrorAction,
  cmkEncryption,
  s3BucketHardening,
  kmsKeyRotation,
  logRetention,
  lambdaRuntimeAndDlq,
  lambdaInVpc,
  vpcDisabledNotice,
  timestreamMagneticWrites,
  statefulProtected,
  costTags,
  noRetiredServices,
  alarmsForFunctionsAndDeadLetters,
];
