import type { ScanResult } from "../contracts/release.js";
import type { ImageChange } from "./image-editor.js";

/** Markdown body of the release PR: what changes, what the scan said, where the run is. */
export function renderPullRequestBody(input: {
  app: string;
  tag: string;
  changes: ImageChange[];
  scans: ScanResult[];
  executionUrl: string;
}): string {
  const rows = input.changes.map((c) => `| \`${c.path}\` | ${c.line} | \`${c.before}\` | \`${c.after}\` |`);
  const scanRows = input.scans.map((s) => {
    const counts = Object.entries(s.counts)
      .map(([sev, n]) => `${sev} ${n}`)
      .join(", ");
    return `| ${s.service} | ${s.verdict} | ${counts || "none"} | ${s.scannedBy} |`;
  });
  return [
    `Pins **${input.app} ${input.tag}**. Merging hands it to Argo CD for production.`,
    "",
    "| file | line | before | after |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
    "### Scan",
    "| service | verdict | findings | scanned by |",
    "| --- | --- | --- | --- |",
    ...scanRows,
    "",
    `Execution: ${input.executionUrl}`,
    // The PR is opened before DeployDev runs, and updating it afterwards would cost a call the
    // budget (8 per release) has no room for: the body says so rather than guess an outcome.
    "Dev deploy: pending (see the execution)",
    "",
    "_Opened by Pourover. Only image values were changed; everything else is byte for byte._",
  ].join("\n");
}
