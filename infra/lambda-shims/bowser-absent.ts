/**
 * Stands in for `bowser` in the Lambda bundles (esbuild `alias`). `@aws-sdk/core` imports it only
 * in the browser's user-agent code, which Node never runs; without this every bundle ships a
 * 35 KB chunk of browser detection that is never loaded.
 */
export const parse = (): undefined => undefined;
