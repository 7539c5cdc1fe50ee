/**
 * What handlers load with `import()` from @aws-sdk/client-s3, re-exported by name: esbuild tree-shakes a
 * static import, never an `import()` of the package itself, which would ship every command.
 */
export { S3Client } from "@aws-sdk/client-s3";
