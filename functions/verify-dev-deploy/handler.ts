import { SSMClient } from "@aws-sdk/client-ssm";
import middy from "@middy/core";
import { SsmDeployStatusReader } from "../../shared/adapters/aws/ssm-deploy-status.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type VerifyDevDeployInput, verifyDevDeploy } from "./verify-dev-deploy.js";

const deps = { reader: new SsmDeployStatusReader(new SSMClient({})) };

export const handler = middy<VerifyDevDeployInput>()
  .use(powertools("pourover-verify-dev-deploy").middleware)
  .handler((event) => verifyDevDeploy(event, deps));
