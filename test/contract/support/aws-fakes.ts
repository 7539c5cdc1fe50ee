/**
 * Local HTTP fakes of the AWS endpoints the Lambdas call, speaking each service's wire protocol so
 * that the real SDK v3 clients (the ones the Lambda runtime provides) serialize and deserialize
 * exactly as against AWS. One `node:http` server on 127.0.0.1; the handler under test reaches it
 * through `AWS_ENDPOINT_URL_<SERVICE>` (SDK "service-specific endpoints").
 *
 * Wire shapes, as the SDK's protocol code reads them (@smithy/core protocols):
 * - JSON 1.0/1.1 (DynamoDB, SFN / SSM, Secrets Manager, ECR, EventBridge, CodeBuild): the operation
 *   is `X-Amz-Target: <prefix>.<Operation>`; an error is a 400 whose body `__type` names it
 *   (`loadJsonRpcErrorCode` reads `__type` first and keeps what follows `#`), e.g. DynamoDB's
 *   `com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException`.
 * - REST-JSON (SES v2): `POST /v2/email/outbound-emails` is SendEmail; an error names itself in the
 *   `x-amzn-ErrorType` header (`loadRestJsonErrorCode` reads the header first).
 * - REST-XML (S3, path-style for an IP endpoint): an error is `<Error><Code>…</Code></Error>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// biome-ignore lint/suspicious/noExplicitAny: wire JSON
export type Json = any;

export interface Call {
  readonly service: string;
  readonly operation: string;
  readonly input: Json;
}

/** An AWS error response: the name the SDK will give it, its HTTP status, its message. */
export class FakeAwsError {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly status = 400,
    /** JSON-protocol services: the full shape id in `__type` (DynamoDB sends the namespaced one). */
    readonly type?: string,
  ) {}
}

export type Reply = Json | FakeAwsError;
export type OperationHandler = (input: Json, calls: Call[]) => Reply | Promise<Reply>;

const JSON_TARGETS: Record<string, { service: string; contentType: string }> = {
  DynamoDB_20120810: { service: "DynamoDB", contentType: "application/x-amz-json-1.0" },
  AWSStepFunctions: { service: "SFN", contentType: "application/x-amz-json-1.0" },
  AmazonSSM: { service: "SSM", contentType: "application/x-amz-json-1.1" },
  secretsmanager: { service: "SecretsManager", contentType: "application/x-amz-json-1.1" },
  AmazonEC2ContainerRegistry_V20150921: { service: "ECR", contentType: "application/x-amz-json-1.1" },
  AWSEvents: { service: "EventBridge", contentType: "application/x-amz-json-1.1" },
  CodeBuild_20161006: { service: "CodeBuild", contentType: "application/x-amz-json-1.1" },
};

/** `AWS_ENDPOINT_URL_<SERVICE>` names: the SDK service id, upper case, spaces as underscores. */
export const ENDPOINT_VARIABLES = [
  "DYNAMODB",
  "SFN",
  "SSM",
  "SECRETS_MANAGER",
  "ECR",
  "EVENTBRIDGE",
  "CODEBUILD",
  "SESV2",
  "S3",
  "EC2",
];

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

export class AwsFakes {
  readonly calls: Call[] = [];
  private readonly handlers = new Map<string, OperationHandler>();
  private server?: Server;
  url = "";

  /** Answer `Service.Operation` (e.g. `SSM.ListCommands`) with this handler from now on. */
  on(operation: string, handler: OperationHandler | Reply): this {
    this.handlers.set(operation, typeof handler === "function" ? handler : () => handler);
    return this;
  }

  reset(): void {
    this.calls.length = 0;
    this.handlers.clear();
  }

  callsOf(operation: string): Call[] {
    return this.calls.filter((c) => `${c.service}.${c.operation}` === operation);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The environment that points every SDK client at this server. */
  endpointEnv(): Record<string, string> {
    return Object.fromEntries(ENDPOINT_VARIABLES.map((s) => [`AWS_ENDPOINT_URL_${s}`, this.url]));
  }

  private async reply(service: string, operation: string, input: Json): Promise<Reply> {
    this.calls.push({ service, operation, input });
    const handler = this.handlers.get(`${service}.${operation}`);
    if (!handler)
      return new FakeAwsError("UnknownOperationException", `no fake for ${service}.${operation}`, 400);
    return handler(input, this.calls);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", this.url);
    const target = req.headers["x-amz-target"];

    if (typeof target === "string") {
      const [prefix = "", operation = ""] = target.split(".");
      const proto = JSON_TARGETS[prefix];
      if (!proto) throw new Error(`unknown X-Amz-Target prefix ${prefix}`);
      const out = await this.reply(proto.service, operation, body ? JSON.parse(body) : {});
      if (out instanceof FakeAwsError) {
        res.writeHead(out.status, { "content-type": proto.contentType });
        res.end(JSON.stringify({ __type: out.type ?? out.code, message: out.message }));
      } else {
        res.writeHead(200, { "content-type": proto.contentType });
        res.end(JSON.stringify(out ?? {}));
      }
      return;
    }

    if (req.method === "POST" && url.pathname === "/v2/email/outbound-emails") {
      const out = await this.reply("SESv2", "SendEmail", JSON.parse(body));
      if (out instanceof FakeAwsError) {
        res.writeHead(out.status, { "content-type": "application/json", "x-amzn-ErrorType": out.code });
        res.end(JSON.stringify({ message: out.message }));
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(out));
      }
      return;
    }

    if (req.method === "POST" && /Action=/.test(body)) {
      const params = new URLSearchParams(body);
      const operation = params.get("Action") ?? "";
      const out = await this.reply("EC2", operation, Object.fromEntries(params));
      if (out instanceof FakeAwsError) {
        res.writeHead(out.status, { "content-type": "text/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${out.code}</Code><Message>${xmlEscape(out.message)}</Message></Error></Errors><RequestID>fake</RequestID></Response>`,
        );
      } else {
        res.writeHead(200, { "content-type": "text/xml" });
        res.end(String(out));
      }
      return;
    }

    // S3, path style: /<bucket>/<key>
    const [, bucket = "", ...keyParts] = url.pathname.split("/");
    const key = decodeURIComponent(keyParts.join("/"));
    const operation =
      req.method === "GET" ? "GetObject" : req.method === "PUT" ? "PutObject" : `${req.method}`;
    const out = await this.reply("S3", operation, { Bucket: bucket, Key: key, Body: body });
    if (out instanceof FakeAwsError) {
      res.writeHead(out.status, { "content-type": "application/xml" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${out.code}</Code><Message>${xmlEscape(out.message)}</Message><Key>${xmlEscape(key)}</Key><RequestId>FAKE</RequestId></Error>`,
      );
      return;
    }
    if (operation === "GetObject") {
      res.writeHead(200, { "content-type": "application/octet-stream", etag: '"fake"' });
      res.end(typeof out === "string" ? out : JSON.stringify(out));
    } else {
      res.writeHead(200, { etag: '"fake"' });
      res.end();
    }
  }
}

/** DynamoDB's conditional write failure, exactly as DynamoDB names it on the wire. */
export const conditionalCheckFailed = () =>
  new FakeAwsError(
    "ConditionalCheckFailedException",
    "The conditional request failed",
    400,
    "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
  );

/**
 * SES refusing an identity the caller's policy does not cover. IAM's AccessDenied message format:
 * "User: <principal> is not authorized to perform: <action> on resource: <arn> because no
 * identity-based policy allows the <action> action" (IAM User Guide, "Troubleshoot access denied
 * error messages"); REST-JSON services send it as a 403 AccessDeniedException.
 */
export const sesAccessDenied = (identityArn: string) =>
  new FakeAwsError(
    "AccessDeniedException",
    `User: arn:aws:sts::123456789012:assumed-role/SendNotificationRole/fn is not authorized to perform: ses:SendEmail on resource: ${identityArn} because no identity-based policy allows the ses:SendEmail action`,
    403,
  );

/**
 * `CommandPlugins[].Output` of ListCommandInvocations (Details true): stdout, then stderr after the
 * agent's separator, cut at 2,500 characters (SSM API Reference, CommandPlugin: Output "Maximum
 * length of 2500"). GetCommandInvocation's `StandardOutputContent` holds stdout alone.
 */
export function pluginOutput(stdout: string, stderr: string): string {
  const joined = stderr ? `${stdout}\n----------ERROR-------\n${stderr}` : stdout;
  return joined.slice(0, 2500);
}
