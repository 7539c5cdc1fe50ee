import { CodeBuildClient } from "@aws-sdk/client-codebuild";
import middy from "@middy/core";
import { CodeBuildBuildReader } from "../../shared/adapters/aws/codebuild-build-reader.js";
import { powertools } from "../../shared/observability/powertools.js";
import { describeBuildFailure } from "./describe-build-failure.js";

const deps = { builds: new CodeBuildBuildReader(new CodeBuildClient({})) };

export const handler = middy()
  .use(powertools("pourover-describe-build-failure").middleware)
  .handler((event: unknown) => describeBuildFailure(event, deps));
