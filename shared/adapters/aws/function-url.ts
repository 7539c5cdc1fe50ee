/**
 * The Lambda half of a Function URL endpoint (the pure half is shared/domain/http-endpoint.ts): maps
 * the payload format 2.0 event to the core's request, wraps the core in middy, writes the core's log
 * entries as Powertools JSON lines, and builds the handler on first use from the environment.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import middy from "@middy/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import type { EndpointLog, EndpointRequest, EndpointResponse } from "../../domain/http-endpoint.js";

/** Maps a Function URL (payload format 2.0) event to an endpoint core's request. */
export function toEndpointRequest(event: APIGatewayProxyEventV2): EndpointRequest {
  return {
    method: event.requestContext?.http?.method ?? "",
    headers: event.headers ?? {},
    body: event.body ?? "",
    isBase64Encoded: event.isBase64Encoded === true,
  };
}

/** A middy handler that answers each Function URL event with `core(request, deps)`. */
export function functionUrlHandler<D>(
  core: (req: EndpointRequest, deps: D) => Promise<EndpointResponse>,
  deps: D,
) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>().handler(async (event) => {
    const res = await core(toEndpointRequest(event), deps);
    return { statusCode: res.statusCode, headers: res.headers ?? {}, body: res.body };
  });
}

export type FunctionUrlHandler = ReturnType<typeof functionUrlHandler>;

/**
 * The core's `{msg, ...fields}` entries as Powertools JSON lines: `error` level when `isError` says
 * so, `info` otherwise; `fallbackMsg` when an entry has no string `msg`.
 */
export function powertoolsLog(
  logger: Pick<Logger, "info" | "error">,
  fallbackMsg: string,
  isError: (fields: Record<string, unknown>) => boolean,
): EndpointLog {
  return ({ msg, ...fields }) => {
    const message = typeof msg === "string" ? msg : fallbackMsg;
    if (isError(fields)) logger.error(message, fields);
    else logger.info(message, fields);
  };
}

/**
 * The exported Lambda handler: built at cold start when running in Lambda (a bad environment fails
 * the cold start, not a request), else on first use (tests import the module without the env).
 */
export function lazyHandler(inLambda: boolean, build: () => FunctionUrlHandler) {
  let instance: FunctionUrlHandler | undefined = inLambda ? build() : undefined;
  return (event: APIGatewayProxyEventV2, context: Context) => {
    instance ??= build();
    return instance(event, context);
  };
}
