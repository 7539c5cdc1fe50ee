import type { BuildInfo } from "../ports/build-reader.js";

/**
 * Normalises a CodeBuild Build object with PascalCase keys (the JSON Step Functions puts in a failed
 * `.sync` task's Cause) or camelCase keys (the SDK's BatchGetBuilds answer): both ends read it.
 */
export function normaliseBuild(b: Record<string, unknown>, id: string): BuildInfo {
  const pick = (o: Record<string, unknown>, key: string): unknown =>
    o[key] ?? o[key.charAt(0).toLowerCase() + key.slice(1)];
  const phases = (
    Array.isArray(pick(b, "Phases")) ? (pick(b, "Phases") as Record<string, unknown>[]) : []
  ).map((p) => ({
    type: str(pick(p, "PhaseType")) ?? "UNKNOWN",
    ...(str(pick(p, "PhaseStatus")) ? { status: str(pick(p, "PhaseStatus")) } : {}),
    contexts: (Array.isArray(pick(p, "Contexts")) ? (pick(p, "Contexts") as Record<string, unknown>[]) : [])
      .map((c) => [str(pick(c, "StatusCode")), str(pick(c, "Message"))].filter(Boolean).join(": "))
      .filter(Boolean),
  }));
  const logs = pick(b, "Logs") as Record<string, unknown> | undefined;
  const logsUrl = logs && typeof logs === "object" ? str(pick(logs, "DeepLink")) : undefined;
  const projectName = str(pick(b, "ProjectName"));
  const status = str(pick(b, "BuildStatus"));
  return {
    id,
    phases,
    ...(projectName ? { projectName } : {}),
    ...(status ? { status } : {}),
    ...(logsUrl ? { logsUrl } : {}),
  };
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
