/**
 * Powertools for AWS Lambda in every Pourover function: one logger, metrics and tracer per service
 * name, and the middy middlewares that wire them into a handler in one line:
 *
 *   middy().use(powertools("pourover-claim-release").middleware).handler(...)
 *
 * Logs are structured JSON with the Lambda context and the release's correlation keys (execution
 * id, tag, app); never the event, a body or a secret. Metrics are flushed only when a handler added
 * some. The tracer annotates the invocation's X-Ray segment without recording responses; it is
 * loaded on the first invocation rather than at cold start (the X-Ray SDK, semver and cls-hooked are
 * about 110 KB of minified code and 35 ms of CPU to evaluate on Node 24, which an `import()` keeps
 * out of the init phase: esbuild puts them in a chunk of their own).
 * Namespace and service come from POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME, set by
 * infra/constructs/pourover-function.ts.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Tracer } from "@aws-lambda-powertools/tracer";
import type middy from "@middy/core";
import { correlationKeys, loggerFor, loggerMiddleware } from "./logger.js";

export { correlationKeys, loggerFor, loggerMiddleware } from "./logger.js";
export { METRICS_NAMESPACE } from "./metric-names.js";
export {
  failureStage,
  publishMetrics,
  publishReleaseMetrics,
  type ReleaseOutcome,
  releaseMetrics,
} from "./release-metrics.js";

export interface Powertools {
  logger: Logger;
  metrics: Metrics;
  /** The tracer, created on first use (the middleware's first `before`). */
  tracer: () => Promise<Tracer>;
  /** Logger context and correlation keys, tracer segment, metrics flush: pass to middy's `use`. */
  middleware: middy.MiddlewareObj[];
}

const instances = new Map<string, Powertools>();

/** The logger, metrics and tracer of one service, created once per cold start. */
export function powertools(serviceName: string): Powertools {
  const existing = instances.get(serviceName);
  if (existing) return existing;
  const logger = loggerFor(serviceName);
  const metrics = new Metrics({ serviceName });
  let loading: Promise<{ tracer: Tracer; capture: middy.MiddlewareObj }> | undefined;
  let loaded: { tracer: Tracer; capture: middy.MiddlewareObj } | undefined;
  const tracing = () => {
    loading ??= Promise.all([
      import("@aws-lambda-powertools/tracer"),
      import("@aws-lambda-powertools/tracer/middleware"),
    ]).then(([{ Tracer }, { captureLambdaHandler }]) => {
      const tracer = new Tracer({ serviceName });
      loaded = {
        tracer,
        capture: captureLambdaHandler(tracer, { captureResponse: false }) as middy.MiddlewareObj,
      };
      return loaded;
    });
    return loading;
  };
  const flushMetrics = () => {
    // Powertools warns on every flush without metrics; most handlers publish none.
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  const created: Powertools = {
    logger,
    metrics,
    tracer: async () => (await tracing()).tracer,
    middleware: [
      // captureLambdaHandler, loaded by the first invocation's `before`.
      {
        before: async (request) => (await tracing()).capture.before?.(request),
        after: (request) => loaded?.capture.after?.(request),
        onError: (request) => loaded?.capture.onError?.(request),
      },
      ...loggerMiddleware(logger),
      {
        before: (request) => {
          const { executionId, tag } = correlationKeys(request.event);
          if (tag) loaded?.tracer.putAnnotation("tag", tag);
          if (executionId) loaded?.tracer.putAnnotation("executionId", executionId);
        },
        after: flushMetrics,
        onError: flushMetrics,
      },
    ],
  };
  instances.set(serviceName, created);
  return created;
}
