/** A build phase as CodeBuild reports it (BatchGetBuilds, or the Build JSON in a `.sync` Cause). */
export interface BuildPhaseInfo {
  type: string;
  status?: string;
  contexts: string[];
}

/** What a person needs from a failed build. */
export interface BuildInfo {
  id: string;
  projectName?: string;
  status?: string;
  phases: BuildPhaseInfo[];
  logsUrl?: string;
}

/** Reads a build by id (CodeBuild in AWS); null when the build is unknown. */
export interface BuildReader {
  describe(buildId: string): Promise<BuildInfo | null>;
}
