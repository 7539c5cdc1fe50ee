/**
 * What handlers load with `import()` from @aws-sdk/client-sesv2, re-exported by name: esbuild tree-shakes a
 * static import, never an `import()` of the package itself, which would ship every command.
 */
export { SESv2Client } from "@aws-sdk/client-sesv2";
