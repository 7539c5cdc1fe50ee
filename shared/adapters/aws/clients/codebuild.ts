/**
 * What handlers load with `import()` from @aws-sdk/client-codebuild, re-exported by name: esbuild tree-shakes a
 * static import, never an `import()` of the package itself, which would ship every command.
 */
export { CodeBuildClient } from "@aws-sdk/client-codebuild";
