/**
 * A zod schema built on its first use rather than when its module loads. zod v4 does much of a
 * schema's work at construction, so module-level schemas add up at a Lambda's cold start (the init
 * phase); built lazily, the first invocation that parses pays for the schemas it uses, once.
 */
export function lazySchema<T>(build: () => T): () => T {
  let schema: T | undefined;
  return () => {
    schema ??= build();
    return schema;
  };
}
