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

  /** The environment that points every SDK client (and the GitHub client, see run-bundle.ts) here. */
  endpointEnv(): Record<string, string> {
    return {
      ...Object.fromEntries(ENDPOINT_VARIABLES.map((s) => [`AWS_ENDPOINT_URL_${s}`, this.url])),
      CONTRACT_GITHUB_API_URL: `${this.url}/github`,
    };
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

    // GitHub's REST API (the bundle's requests to api.github.com are routed here, run-bundle.ts).
    if (url.pathname.startsWith("/github/")) {
      const route = `${req.method} ${url.pathname.slice("/github".length)}`;
      const out = await this.reply("GitHub", route, body ? JSON.parse(body) : {});
      if (out instanceof FakeAwsError) {
        res.writeHead(out.status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify({ message: out.message, documentation_url: "https://docs.github.com/rest" }));
      } else {
        res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(out ?? {}));
      }
      return;
    }

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
 * `CommandPlugins[].Output` of ListCommandInvocations (Details true), built as amazon-ssm-agent builds
 * it (`TruncateOutput` in agent/framework/processor/executer/iohandler/iohandler.go): stdout, then
 * `"\n----------ERROR-------\n"` and stderr, cut to `capacity` characters with
 * `"\n---Output truncated---"` / `"\n---Error truncated----"` markers. The current agent's capacity
 * (MaximumPluginOutputSize) is 2,500, the SSM API Reference's CommandPlugin Output maximum; older
 * agents (agent/contracts) used 2,400. GetCommandInvocation's `StandardOutputContent` holds stdout
 * alone (up to 24,000 characters).
 */
export function pluginOutput(stdout: string, stderr: string, capacity = 2500): string {
  const truncOut = "\n---Output truncated---";
  const truncErr = "\n---Error truncated----";
  const title = stderr.length > 0 ? "\n----------ERROR-------\n" : "";
  const available = capacity - title.length;
  if (stdout.length + stderr.length < available) return `${stdout}${title}${stderr}`;
  if (stdout.length > available / 2 && stderr.length > available / 2) {
    const half = Math.trunc((available - truncErr.length - truncOut.length) / 2);
    return `${stdout.slice(0, half)}${truncOut}${title}${stderr.slice(0, half)}${truncErr}`;
  }
  if (stdout.length < available / 2)
    return `${stdout}${title}${stderr.slice(0, available - truncErr.length - stdout.length)}${truncErr}`;
  return `${stdout.slice(0, available - truncOut.length - stderr.length)}${truncOut}${title}${stderr}`;
}

/** An IAM statement as the fakes evaluate it (resolved from the template). */
export interface FakePolicyStatement {
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: Json;
}

const globMatch = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  ).test(value);

/**
 * IAM evaluation of an Allow statement's Condition block, for the operators Pourover's SES statement
 * uses (IAM User Guide, "IAM JSON policy elements: Condition operators" and "Multivalued context
 * keys": ForAllValues is true when every request value matches one of the policy values). Any other
 * operator throws, so the fake never allows what it does not understand.
 */
function conditionsHold(conditions: Json, context: Record<string, string[]>): boolean {
  for (const [operator, block] of Object.entries(conditions ?? {})) {
    for (const [key, raw] of Object.entries(block as Record<string, Json>)) {
      const policyValues: string[] = Array.isArray(raw) ? raw : [raw];
      const requestValues = context[key] ?? [];
      const [qualifier, op] = operator.includes(":") ? operator.split(":") : [undefined, operator];
      const test =
        op === "StringEquals"
          ? (v: string) => policyValues.includes(v)
          : op === "StringLike"
            ? (v: string) => policyValues.some((p) => globMatch(p, v))
            : undefined;
      if (!test) throw new Error(`fake IAM: condition operator ${operator} is not modelled`);
      if (qualifier === "ForAllValues") {
        if (!requestValues.every(test)) return false;
      } else if (qualifier === "ForAnyValue" || qualifier === undefined) {
        if (!requestValues.some(test)) return false;
      } else throw new Error(`fake IAM: qualifier ${qualifier} is not modelled`);
    }
  }
  return true;
}

/**
 * SES API v2 SendEmail as an account sees it, with the sending role's own IAM statements:
 * - The From address must be a verified identity, as an address or through its domain; otherwise
 *   SES rejects the message ("Email address is not verified. The following identities failed the
 *   check in region ..."), a 400 MessageRejected.
 * - In the sandbox every recipient must be verified too (SES Developer Guide, "Request production
 *   access": in the sandbox you can send only to verified addresses and domains).
 * - IAM authorizes `ses:SendEmail` on the identity ARN used: the From address's own identity when
 *   that address is verified, else its domain's, and in the sandbox each recipient's identity (SES
 *   Developer Guide, "Identity and access management in Amazon SES": restrict the identities a user
 *   may send from by setting Resource to their ARNs; `ses:FromAddress` and `ses:Recipients`
 *   condition keys). A statement that does not cover one of them: 403 AccessDeniedException.
 */
export function sesAccount(options: {
  region: string;
  account: string;
  verified: string[];
  sandbox: boolean;
  statements: FakePolicyStatement[];
}): OperationHandler {
  const identityArn = (id: string) => `arn:aws:ses:${options.region}:${options.account}:identity/${id}`;
  const verifiedIdentity = (address: string): string | undefined => {
    const domain = address.split("@")[1] ?? "";
    if (options.verified.includes(address)) return address;
    if (options.verified.includes(domain)) return domain;
    return undefined;
  };
  return (input: Json) => {
    const from = String(input.FromEmailAddress ?? "");
    const d = input.Destination ?? {};
    const recipients: string[] = [
      ...(d.ToAddresses ?? []),
      ...(d.CcAddresses ?? []),
      ...(d.BccAddresses ?? []),
    ];
    const unverified = [from, ...(options.sandbox ? recipients : [])].filter((a) => !verifiedIdentity(a));
    if (unverified.length > 0)
      return new FakeAwsError(
        "MessageRejected",
        `Email address is not verified. The following identities failed the check in region ${options.region.toUpperCase()}: ${unverified.join(", ")}`,
      );
    const toAuthorize = [from, ...(options.sandbox ? recipients : [])].map((a) =>
      identityArn(verifiedIdentity(a) as string),
    );
    const context = { "ses:FromAddress": [from], "ses:Recipients": recipients };
    for (const arn of toAuthorize) {
      const allowed = options.statements.some(
        (st) =>
          st.actions.some((a) => globMatch(a.toLowerCase(), "ses:sendemail")) &&
          st.resources.some((r) => globMatch(r, arn)) &&
          conditionsHold(st.conditions, context),
      );
      if (!allowed) return sesAccessDenied(arn);
    }
    return { MessageId: `0100018f-${Date.now().toString(16)}-fake` };
  };
}
