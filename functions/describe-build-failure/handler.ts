import { CodeBuildClient } from "@aws-sdk/client-codebuild";
import middy from "@middy/core";
import { powertools } from "../../shared/observability/powertools.js";
import { CodeBuildBuildReader } from "./codebuild-build-reader.js";
import { describeBuildFailure } from "./describe-build-failure.js";

const deps = { builds: new CodeBuildBuildReader(new CodeBuildClient({})) };

export const handler = middy()
  .use(powertools("pourover-describe-build-failure").middleware)
  .handler((event: unknown) => describeBuildFailure(event, deps));
