import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type VerifyDevDeployInput, verifyDevDeploy } from "./verify-dev-deploy.js";

const reader = firstUse(async () => {
  const [{ SSMClient }, { SsmDeployStatusReader }] = await Promise.all([
    import("../../shared/adapters/aws/clients/ssm.js"),
    import("../../shared/adapters/aws/ssm-deploy-status.js"),
  ]);
  return new SsmDeployStatusReader(new SSMClient({}));
});

export const handler = middy<VerifyDevDeployInput>()
  .use(powertools("pourover-verify-dev-deploy").middleware)
  .handler(async (event) => verifyDevDeploy(event, { reader: await reader() }));
