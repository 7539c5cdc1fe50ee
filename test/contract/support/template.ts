/**
 * Reading a synthesized CloudFormation template the way AWS would see it once deployed: intrinsic
 * functions resolved to fake but well-formed values (names, ARNs) for one account and region.
 */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
export type Json = any;

export const FAKE_ACCOUNT = "123456789012";
export const FAKE_REGION = "us-east-1";
export const FAKE_PARTITION = "aws";

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Json }>;
}

const PSEUDO: Record<string, string> = {
  "AWS::Partition": FAKE_PARTITION,
  "AWS::Region": FAKE_REGION,
  "AWS::AccountId": FAKE_ACCOUNT,
  "AWS::URLSuffix": "amazonaws.com",
  "AWS::StackName": "Pourover-contract",
  "AWS::StackId": `arn:aws:cloudformation:${FAKE_REGION}:${FAKE_ACCOUNT}:stack/Pourover-contract/1`,
  "AWS::NoValue": "",
};

/** The physical name a resource would get: its name property when set, else from the logical id. */
function physicalName(id: string, resource: { Type: string; Properties?: Json }): string {
  const p = resource.Properties ?? {};
  const named =
    p.TableName ?? p.RepositoryName ?? p.LogGroupName ?? p.BucketName ?? p.FunctionName ?? p.Name ?? p.Name;
  if (typeof named === "string") return named;
  return `${id.toLowerCase().slice(0, 40)}-fake`;
}

const arn = (service: string, rest: string) =>
  `arn:${FAKE_PARTITION}:${service}:${FAKE_REGION}:${FAKE_ACCOUNT}:${rest}`;

/** What `Ref` returns for a resource type (per each type's CloudFormation "Return values"). */
function refOf(template: TemplateJson, id: string): string {
  const resource = template.Resources[id];
  if (!resource) throw new Error(`Ref to unknown resource ${id}`);
  const name = physicalName(id, resource);
  switch (resource.Type) {
    case "AWS::SecretsManager::Secret":
      return arn("secretsmanager", `secret:${name}-AbCdEf`);
    case "AWS::StepFunctions::StateMachine":
      return arn("states", `stateMachine:${name}`);
    case "AWS::SNS::Topic":
      return arn("sns", name);
    case "AWS::SQS::Queue":
      return `https://sqs.${FAKE_REGION}.amazonaws.com/${FAKE_ACCOUNT}/${name}`;
    default:
      return name;
  }
}

function getAtt(template: TemplateJson, id: string, attr: string): string {
  const resource = template.Resources[id];
  if (!resource) throw new Error(`GetAtt of unknown resource ${id}`);
  const name = physicalName(id, resource);
  if (attr !== "Arn") return `${name}.${attr}`;
  switch (resource.Type) {
    case "AWS::DynamoDB::Table":
      return arn("dynamodb", `table/${name}`);
    case "AWS::Lambda::Function":
      return arn("lambda", `function:${name}`);
    case "AWS::CodeBuild::Project":
      return arn("codebuild", `project/${name}`);
    case "AWS::S3::Bucket":
      return `arn:${FAKE_PARTITION}:s3:::${name}`;
    case "AWS::Events::EventBus":
      return arn("events", `event-bus/${name}`);
    case "AWS::Logs::LogGroup":
      return arn("logs", `log-group:${name}:*`);
    case "AWS::ECR::Repository":
      return arn("ecr", `repository/${name}`);
    case "AWS::IAM::Role":
      return `arn:${FAKE_PARTITION}:iam::${FAKE_ACCOUNT}:role/${name}`;
    case "AWS::SQS::Queue":
      return arn("sqs", name);
    case "AWS::KMS::Key":
      return arn("kms", `key/${name}`);
    case "AWS::StepFunctions::StateMachine":
      return arn("states", `stateMachine:${name}`);
    default:
      return arn("unknown", `${resource.Type}/${name}`);
  }
}

/** Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split and Fn::Sub (no nested maps). */
export function resolveValue(template: TemplateJson, value: Json): Json {
  if (Array.isArray(value)) return value.map((v) => resolveValue(template, v));
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const v = value[k];
    if (k === "Ref") return PSEUDO[v] ?? refOf(template, v);
    if (k === "Fn::GetAtt") {
      const [id, attr] = Array.isArray(v) ? v : String(v).split(".");
      return getAtt(template, id, attr);
    }
    if (k === "Fn::Join") {
      const [sep, parts] = v;
      return (resolveValue(template, parts) as string[]).join(sep);
    }
    if (k === "Fn::Select") {
      const [index, list] = v;
      return (resolveValue(template, list) as string[])[Number(resolveValue(template, index))];
    }
    if (k === "Fn::Split") {
      const [sep, str] = v;
      return String(resolveValue(template, str)).split(sep);
    }
    if (k === "Fn::Sub") {
      const [text, vars] = Array.isArray(v) ? v : [v, {}];
      return String(text).replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
        if (vars[name] !== undefined) return String(resolveValue(template, vars[name]));
        if (PSEUDO[name] !== undefined) return PSEUDO[name];
        const [id, attr] = name.split(".");
        return attr ? getAtt(template, id as string, attr) : refOf(template, id as string);
      });
    }
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(value)) out[k] = resolveValue(template, v);
  return out;
}

export interface Statement {
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: Json;
  readonly sid?: string;
}

/** Every Allow statement attached to a role: its DefaultPolicy, other AWS::IAM::Policy, inline policies. */
export function statementsOfRole(template: TemplateJson, roleId: string): Statement[] {
  const docs: Json[] = [];
  const role = template.Resources[roleId];
  if (role?.Type !== "AWS::IAM::Role") throw new Error(`${roleId} is not an AWS::IAM::Role`);
  if ((role.Properties?.ManagedPolicyArns ?? []).length > 0) {
    throw new Error(`${roleId} has managed policies; this check reads only inline statements`);
  }
  for (const p of role.Properties?.Policies ?? []) docs.push(p.PolicyDocument);
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== "AWS::IAM::Policy") continue;
    const roles: Json[] = resource.Properties?.Roles ?? [];
    if (roles.some((r) => r?.Ref === roleId)) docs.push(resource.Properties.PolicyDocument);
  }
  return docs.flatMap((doc) =>
    (doc.Statement as Json[])
      .filter((s) => s.Effect === "Allow")
      .map((s) => {
        const resolved = resolveValue(template, s);
        const list = (x: Json): string[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
        return {
          actions: list(resolved.Action),
          resources: list(resolved.Resource),
          conditions: resolved.Condition,
          sid: resolved.Sid,
        };
      }),
  );
}

/** IAM-style wildcard match (`*` any run, `?` one character), case-insensitive for actions. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    ignoreCase ? "i" : "",
  );
  return re.test(value);
}

/** The role id a `Fn::GetAtt: [role, Arn]` (Lambda Role, state machine RoleArn) points at. */
export function roleIdOf(value: Json): string {
  const att = value?.["Fn::GetAtt"];
  if (!Array.isArray(att) || att[1] !== "Arn") throw new Error(`not a role GetAtt: ${JSON.stringify(value)}`);
  return att[0] as string;
}
