/**
 * Layer 3: every service-integration Task of the release workflow, checked against the service's
 * API model (support/api-models.ts): `Parameters` against the request shape (member names, types,
 * required members), `ResultSelector` and `OutputPath` against the response shape, and the
 * service errors named in `Retry`/`Catch` against the errors the service can return.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { isThrottlingError } from "@smithy/core/retry";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../infra/synth-helper.js";
import {
  type ApiModel,
  apiModel,
  checkOutputPath,
  checkParameters,
  pascal,
  type Shape,
} from "./support/api-models.js";
import { allStates } from "./support/pipeline.js";
import type { Json } from "./support/template.js";

const ASL = JSON.parse(readFileSync(join(REPO_ROOT, "state-machines", "release.asl.json"), "utf8"));
const require = createRequire(import.meta.url);

/**
 * Errors every AWS API can return besides its modelled ones (the API References' "Common Errors"
 * page, e.g. AWS CodeBuild API Reference: AccessDeniedException, ThrottlingException, ...).
 */
const COMMON_ERRORS = [
  "AccessDeniedException",
  "IncompleteSignature",
  "InternalFailure",
  "InvalidAction",
  "InvalidClientTokenId",
  "NotAuthorized",
  "OptInRequired",
  "RequestExpired",
  "ServiceUnavailable",
  "ThrottlingException",
  "ValidationError",
];

interface Integration {
  state: string;
  task: Json;
  model: ApiModel;
  operation: string;
  /** The error prefix Step Functions gives this service's errors, e.g. `Ssm`, `CodeBuild`. */
  errorPrefix: string;
  /** The SDK v3 client package whose exported error classes are the service's modelled errors. */
  clientPackage: string;
}

/** The integrations of the workflow; a Resource this test does not know fails it. */
function integrations(): { sdk: Integration[]; lambdaTasks: string[] } {
  const sdk: Integration[] = [];
  const lambdaTasks: string[] = [];
  for (const [state, task] of allStates(ASL)) {
    if (task.Type !== "Task") continue;
    const resource = String(task.Resource);
    // A Lambda function ARN as Resource: the Parameters are our own payload, not an AWS API.
    if (/^\$\{[A-Za-z]+FunctionArn\}$/.test(resource)) {
      lambdaTasks.push(state);
      continue;
    }
    // Optimized CodeBuild integration; `.sync` takes StartBuild's request and returns its response
    // once the build is done (Step Functions Developer Guide, "Manage AWS CodeBuild builds").
    const cb = /^arn:aws:states:::codebuild:(startBuild)(\.sync)?$/.exec(resource);
    if (cb) {
      sdk.push({
        state,
        task,
        model: apiModel("codebuild"),
        operation: "StartBuild",
        errorPrefix: "CodeBuild",
        clientPackage: "@aws-sdk/client-codebuild",
      });
      continue;
    }
    // Optimized DynamoDB integration: the DynamoDB API itself (its members are already PascalCase);
    // errors are named DynamoDB.<Error> (Step Functions Developer Guide, "Call DynamoDB APIs").
    const ddb = /^arn:aws:states:::dynamodb:(getItem|putItem|updateItem|deleteItem)$/.exec(resource);
    if (ddb) {
      sdk.push({
        state,
        task,
        model: apiModel("dynamodb"),
        operation: pascal(ddb[1] as string),
        errorPrefix: "DynamoDB",
        clientPackage: "@aws-sdk/client-dynamodb",
      });
      continue;
    }
    const a = /^arn:aws:states:::aws-sdk:([a-z0-9]+):([a-zA-Z0-9]+)(\.[a-zA-Z]+)?$/.exec(resource);
    if (a) {
      const service = a[1] as string;
      sdk.push({
        state,
        task,
        model: apiModel(service),
        operation: pascal(a[2] as string),
        // "the error name is ServiceName.ErrorName, both in PascalCase" (AWS SDK integrations).
        errorPrefix: pascal(service),
        clientPackage: `@aws-sdk/client-${service}`,
      });
      continue;
    }
    throw new Error(`${state}: Resource ${resource} is not modelled by this test; add it`);
  }
  return { sdk, lambdaTasks };
}

/** `$.`-paths a ResultSelector/OutputPath value reads (plain paths and paths inside intrinsics). */
function pathsIn(value: string): string[] {
  if (value.startsWith("$$")) return [];
  if (/^\$(\.|$)/.test(value)) return [value];
  return [...value.matchAll(/(?<![$\w])\$(?:\.[A-Za-z0-9_]+|\[\d+\]|\[\*\])+/g)].map((m) => m[0]);
}

describe("contract layer 3: ASL service integrations against the AWS API models", () => {
  const { sdk, lambdaTasks } = integrations();

  it("finds the workflow's integrations (CodeBuild .sync and aws-sdk:ssm) and its Lambda tasks", () => {
    expect(sdk.map((i) => `${i.state}:${i.operation}`)).toEqual(
      expect.arrayContaining(["BuildScanPush:StartBuild", "ScanImage:StartBuild", "DeployDev:SendCommand"]),
    );
    expect(lambdaTasks.length).toBeGreaterThan(5);
  });

  it("passes Parameters that the request shape has, with the right types and every required member", () => {
    const problems = sdk.flatMap((i) => {
      const input = i.model.operations[i.operation]?.input as Shape | undefined;
      if (!input) return [`${i.state}: ${i.model.file} has no operation ${i.operation}`];
      return checkParameters(i.model, input, i.task.Parameters ?? {}, `${i.state}.Parameters`);
    });
    expect(problems).toEqual([]);
  });

  it("selects only fields that the response shape has (ResultSelector, OutputPath)", () => {
    const problems = sdk.flatMap((i) => {
      const output = i.model.operations[i.operation]?.output as Shape;
      const checks: string[] = [];
      for (const [key, value] of Object.entries(i.task.ResultSelector ?? {})) {
        if (!key.endsWith(".$")) continue;
        for (const path of pathsIn(String(value)))
          checks.push(
            ...checkOutputPath(i.model, output, path).map((p) => `${i.state}.ResultSelector.${key}: ${p}`),
          );
      }
      if (typeof i.task.OutputPath === "string" && i.task.ResultSelector === undefined && !i.task.ResultPath)
        checks.push(
          ...checkOutputPath(i.model, output, i.task.OutputPath).map((p) => `${i.state}.OutputPath: ${p}`),
        );
      return checks;
    });
    expect(problems).toEqual([]);
  });

  it("retries and catches only errors the service can return, named as Step Functions names them", () => {
    const problems: string[] = [];
    for (const i of sdk) {
      const client = require(i.clientPackage) as Record<string, unknown>;
      const base = client[`${i.model.metadata.serviceId?.replace(/\s/g, "") ?? ""}ServiceException`];
      const modelled = Object.entries(client)
        .filter(
          ([, v]) =>
            typeof v === "function" &&
            base &&
            (v as { prototype: unknown }).prototype instanceof (base as never),
        )
        .map(([name]) => name);
      for (const rule of [...(i.task.Retry ?? []), ...(i.task.Catch ?? [])]) {
        for (const name of rule.ErrorEquals as string[]) {
          if (name.startsWith("States.")) continue;
          const [prefix, error] = name.split(".") as [string, string | undefined];
          if (prefix !== i.errorPrefix || !error) {
            problems.push(`${i.state}: ${name} is not a ${i.errorPrefix}.<Error> name`);
            continue;
          }
          // Step Functions appends "Exception" to error names that lack it (AWS SDK integrations).
          // Throttling codes come from the SDK's own retry classification (@smithy/core/retry), the
          // machine-readable list of what services answer when throttling: EC2's query API models no
          // errors at all, and its RequestLimitExceeded ("Error codes for the Amazon EC2 API") is there.
          const throttling = (e: string) =>
            isThrottlingError({ name: e, $metadata: {} } as Parameters<typeof isThrottlingError>[0]);
          const known =
            [...modelled, ...COMMON_ERRORS].some(
              (e) => e === error || (!e.endsWith("Exception") && `${e}Exception` === error),
            ) ||
            throttling(error) ||
            (error.endsWith("Exception") && throttling(error.slice(0, -"Exception".length)));
          if (!known) problems.push(`${i.state}: ${name}: ${i.errorPrefix} has no error ${error}`);
        }
      }
    }
    expect(modelledCount(sdk)).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});

function modelledCount(sdk: Integration[]): number {
  return sdk.filter((i) => (i.task.Retry ?? []).length > 0).length;
}
