/** A component configuration as the Greengrass deployment carries it: a stack's factory config and agent settings. */
import { loadFactoryConfigFromStack } from "./factoryConfig";

/** The document for `stack`, as plain JSON (tests mutate it to make bad ones). */
export function agentDocument(stack = "factory-c", bufferPath = "/var/lib/smart-factory/buffer.db"): Record<string, any> {
  return JSON.parse(
    JSON.stringify({
      factory: loadFactoryConfigFromStack(stack),
      agent: {
        iotEndpoint: "a1mock-ats.iot.us-east-1.amazonaws.com",
        certificatePath: "/greengrass/v2/thingCert.crt",
        privateKeyPath: "/greengrass/v2/privKey.key",
        rootCaPath: "/greengrass/v2/rootCA.pem",
        buffer: { path: bufferPath, maxBytes: 2 * 1024 ** 3, maxAgeHours: 24 * 14, onOverflow: "dropOldest" },
      },
    }),
  ) as Record<string, any>;
}
