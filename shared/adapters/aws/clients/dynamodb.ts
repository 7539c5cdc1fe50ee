/**
 * What handlers load with `import()` from @aws-sdk/client-dynamodb, re-exported by name: esbuild tree-shakes a
 * static import, never an `import()` of the package itself, which would ship every command.
 */
export { DynamoDBClient } from "@aws-sdk/client-dynamodb";
