/**
 * A dependency built on first use and kept for the life of the execution environment. Handlers
 * load their AWS SDK client and adapter with `import()` inside `make`, so that the cold start's init
 * does not compile and evaluate the SDK (about 180 KB of minified code, and the `https` and `crypto`
 * built-ins) before the first event: the first invocation pays it instead. Concurrent callers share
 * one build; a failed build is retried by the next caller rather than remembered.
 */
export function firstUse<T>(make: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    built ??= make().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
}
