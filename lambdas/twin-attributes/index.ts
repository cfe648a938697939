/** Deployable entry of the twin-attributes function (see `handler.ts`). */
import { IoTSiteWiseClient } from "@aws-sdk/client-iotsitewise";
import { createAttributesHandler } from "./handler";

export const handler = createAttributesHandler(new IoTSiteWiseClient({}));
