import { BatchGetBuildsCommand, type CodeBuildClient } from "@aws-sdk/client-codebuild";
import { normaliseBuild } from "../../domain/codebuild-build.js";
import type { BuildInfo, BuildReader } from "../../ports/build-reader.js";

/** BuildReader over CodeBuild's BatchGetBuilds (one id per call). */
export class CodeBuildBuildReader implements BuildReader {
  constructor(private readonly client: CodeBuildClient) {}

  async describe(buildId: string): Promise<BuildInfo | null> {
    const out = await this.client.send(new BatchGetBuildsCommand({ ids: [buildId] }));
    const build = out.builds?.[0];
    if (!build) return null;
    return normaliseBuild(build as unknown as Record<string, unknown>, build.id ?? buildId);
  }
}
