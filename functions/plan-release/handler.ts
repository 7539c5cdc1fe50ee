import { ECRClient } from "@aws-sdk/client-ecr";
import middy from "@middy/core";
import { EcrImageRegistry } from "../../shared/adapters/aws/ecr-registry.js";
import { bundledAppConfig } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { planRelease } from "./plan-release.js";

const config = bundledAppConfig();
const deps = { registry: new EcrImageRegistry(new ECRClient({})) };

export const handler = middy()
  .use(powertools("pourover-plan-release").middleware)
  .handler(async (event: unknown) => planRelease(event, config, deps));
