import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { powertools } from "../../shared/observability/powertools.js";
import { describeBuildFailure } from "./describe-build-failure.js";

const builds = firstUse(async () => {
  const [{ CodeBuildClient }, { CodeBuildBuildReader }] = await Promise.all([
    import("../../shared/adapters/aws/clients/codebuild.js"),
    import("../../shared/adapters/aws/codebuild-build-reader.js"),
  ]);
  return new CodeBuildBuildReader(new CodeBuildClient({}));
});

export const handler = middy()
  .use(powertools("pourover-describe-build-failure").middleware)
  .handler(async (event: unknown) => describeBuildFailure(event, { builds: await builds() }));
