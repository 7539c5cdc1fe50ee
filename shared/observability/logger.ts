/**
 * The Powertools logger alone, for bundles with a tight size budget (the webhook, update-manifests):
 * the tracer pulls in the X-Ray SDK (about 120 KB minified), which esbuild cannot tree-shake away.
 * Everything else imports `powertools.ts`, which builds on this module.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import type middy from "@middy/core";

const loggers = new Map<string, Logger>();

/** One structured JSON logger per service name (`pourover-<function dir>`), created on first use. */
export function loggerFor(serviceName: string): Logger {
  let logger = loggers.get(serviceName);
  if (!logger) {
    logger = new Logger({ serviceName });
    loggers.set(serviceName, logger);
  }
  return logger;
}

const TAG = /^v\d{1,9}\.\d{1,9}\.\d{1,9}[0-9A-Za-z.+-]{0,100}$/;
const APP = /^[a-z0-9][a-z0-9-]{0,62}$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_:.-]{1,200}$/;
/** Local executions (LocalRuntime) use plain ids. */
const LOCAL_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * Correlation fields read from a state input: `executionId` (top level, as the ASL passes it), and
 * `tag` and `app` from the input itself, its `request` (ClaimRelease) or its `release` (outcome
 * states). Only values matching their strict shape are kept, so nothing else of the event (bodies,
 * findings, credentials) can reach a log line through here.
 */
export function correlationKeys(event: unknown): { executionId?: string; tag?: string; app?: string } {
  const root = record(event);
  if (!root) return {};
  const scopes = [root, record(root.request), record(root.release)].filter(
    (s): s is Record<string, unknown> => s !== undefined,
  );
  const pick = (key: string, shape: (v: string) => boolean): string | undefined => {
    for (const scope of scopes) {
      const value = scope[key];
      if (typeof value === "string" && shape(value)) return value;
    }
    return undefined;
  };
  const keys: { executionId?: string; tag?: string; app?: string } = {};
  const executionId = root.executionId;
  if (typeof executionId === "string" && (EXECUTION_ARN.test(executionId) || LOCAL_ID.test(executionId))) {
    keys.executionId = executionId;
  }
  const tag = pick("tag", (v) => TAG.test(v));
  if (tag) keys.tag = tag;
  const app = pick("app", (v) => APP.test(v));
  if (app) keys.app = app;
  return keys;
}

/** Lambda context and correlation keys on every line of one invocation; the event is never logged. */
export function loggerMiddleware(logger: Logger): middy.MiddlewareObj[] {
  return [
    injectLambdaContext(logger, { resetKeys: true, logEvent: false }) as middy.MiddlewareObj,
    {
      before: (request) => {
        logger.appendKeys(correlationKeys(request.event));
      },
    },
  ];
}
