import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { StateMachine, type StateMachineDefinition } from "aws-local-stepfunctions";
import { ASL_PATH, PROJECT_ROOT } from "./paths.js";

/** Values the local engine puts where the CDK construct puts real ARNs and names. */
export function localSubstitutions(region: string): Record<string, string> {
  const fn = (name: string) => `arn:aws:lambda:${region}:000000000000:function:pourover-local-${name}`;
  return {
    ClaimReleaseFunctionArn: fn("claim-release"),
    PlanReleaseFunctionArn: fn("plan-release"),
    EvaluateScanFunctionArn: fn("evaluate-scan"),
    GateOnScanFunctionArn: fn("gate-on-scan"),
    DescribeBuildFailureFunctionArn: fn("describe-build-failure"),
    UpdateManifestsFunctionArn: fn("update-manifests"),
    VerifyDevFunctionArn: fn("verify-dev-deploy"),
    AcquireDevLockFunctionArn: fn("acquire-dev-lock"),
    LedgerTableName: "pourover-local-ledger",
    SendNotificationFunctionArn: fn("send-notification"),
    RecordOutcomeFunctionArn: fn("record-outcome"),
    ReportDevResultFunctionArn: fn("report-dev-result"),
    BuildProjectName: "pourover-local-build-scan-push",
    ScanProjectName: "pourover-local-scan-image",
    DeployDocumentName: "pourover-local-deploy-dev",
    DeployLogGroupName: "/pourover/local/deploy-dev",
  };
}

/** Reads the ASL file and fills `${Name}` placeholders; an unfilled one is an error, as in the construct. */
export function loadDefinition(
  substitutions: Record<string, string>,
  path = ASL_PATH,
): Record<string, unknown> {
  return JSON.parse(filledDefinition(substitutions, path));
}

function filledDefinition(substitutions: Record<string, string>, path: string): string {
  return readFileSync(path, "utf8").replace(/\$\{(\w+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`ASL placeholder \${${name}} has no local value`);
    return value;
  });
}

/** The workflow's own limit (TimeoutSeconds of the ASL), in seconds. */
export function workflowTimeoutSeconds(region: string): number {
  const definition = loadDefinition(localSubstitutions(region)) as { TimeoutSeconds?: number };
  return Number(definition.TimeoutSeconds ?? 21_600);
}

/**
 * The workflow for the engine. Validating the ASL costs the engine a second or two of CPU, most of a
 * short run's; the same definition under the same engine validates the same way, so a marker per
 * (definition, engine version) lets later processes skip it.
 */
export function localStateMachine(region: string): StateMachine {
  const definition: StateMachineDefinition = JSON.parse(
    filledDefinition(localSubstitutions(region), ASL_PATH),
  );
  const marker = validatedMarker(definition);
  const known = marker !== null && existsSync(marker);
  const machine = new StateMachine(definition, {
    validationOptions: known ? { noValidate: true } : { checkArn: true, checkPaths: true },
  });
  if (!known && marker) {
    try {
      mkdirSync(dirname(marker), { recursive: true });
      writeFileSync(marker, "");
    } catch {
      // A read-only checkout validates every time; nothing else changes.
    }
  }
  return machine;
}

/** Where a passed validation of this exact definition is remembered (under the CLI bundle's cache). */
function validatedMarker(definition: unknown): string | null {
  let engine = "unknown";
  try {
    engine = (
      JSON.parse(
        readFileSync(join(PROJECT_ROOT, "node_modules", "aws-local-stepfunctions", "package.json"), "utf8"),
      ) as { version: string }
    ).version;
  } catch {
    return null;
  }
  const digest = createHash("sha256")
    .update(`${engine}\n${JSON.stringify(definition)}`)
    .digest("hex");
  return join(PROJECT_ROOT, "node_modules", ".cache", "pourover", `asl-validated-${digest.slice(0, 32)}`);
}
