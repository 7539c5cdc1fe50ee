import type { PlannedService, ScanResult } from "../contracts/release.js";
import type { LedgerRecord, ReleaseLedger } from "../ports/index.js";
import { RollbackRefusedError } from "./errors.js";

/** Whether an image is still in the registry, by digest (ECR DescribeImages in AWS). */
export interface ImagePresence {
  exists(ecrRepository: string, digest: string): Promise<boolean>;
}

interface RecordedImage {
  service: string;
  repository: string;
  tag: string;
  digest?: string;
}

interface RecordedScan {
  service: string;
  verdict: ScanResult["verdict"];
  counts: Record<string, number>;
  digest: string | null;
  report: string;
  scannedBy: ScanResult["scannedBy"];
}

/** The one line a refused rollback says, or null when `record` can be rolled back to. */
export function rollbackProblem(app: string, tag: string, record: LedgerRecord | null): string | null {
  if (!record) return `cannot roll back ${app} to ${tag}: ${tag} was never released`;
  if (record.status !== "SUCCEEDED")
    return `cannot roll back ${app} to ${tag}: its release ${record.status === "RUNNING" ? "is still running" : `ended ${record.status}`}, it was never released successfully`;
  const images = ((record.summary ?? {}) as { images?: RecordedImage[] }).images ?? [];
  const unpinned = images.filter((i) => !i.digest).map((i) => i.service);
  if (images.length === 0 || unpinned.length > 0)
    return `cannot roll back ${app} to ${tag}: the ledger holds no digest for ${unpinned.length ? unpinned.join(", ") : "its images"}`;
  return null;
}

/**
 * The services of a rollback to `tag`: each pinned to the digest the ledger recorded for that
 * SUCCEEDED release, with the scan summary recorded then (nothing is built or scanned again).
 * Refused (RollbackRefusedError, one line) when the target never succeeded or an image is gone.
 */
export async function planRollback(
  app: string,
  tag: string,
  services: PlannedService[],
  deps: { ledger: Pick<ReleaseLedger, "get">; images: ImagePresence },
): Promise<PlannedService[]> {
  const record = await deps.ledger.get(app, tag);
  const problem = rollbackProblem(app, tag, record);
  if (problem || !record) throw new RollbackRefusedError(problem ?? `cannot roll back ${app} to ${tag}`);
  const summary = (record.summary ?? {}) as { images?: RecordedImage[]; scans?: RecordedScan[] };
  const planned = services.map((s) => {
    const image = summary.images?.find((i) => i.service === s.name);
    if (!image?.digest)
      throw new RollbackRefusedError(
        `cannot roll back ${app} to ${tag}: no image of ${s.name} was recorded for it`,
      );
    return { service: s, image: { ...image, digest: image.digest } };
  });
  const present = await Promise.all(
    planned.map((p) => deps.images.exists(p.service.ecrRepository, p.image.digest)),
  );
  const gone = planned
    .filter((_, i) => !present[i])
    .map((p) => `${p.service.ecrRepository}@${p.image.digest.slice(0, 19)}…`);
  if (gone.length > 0)
    throw new RollbackRefusedError(
      `cannot roll back ${app} to ${tag}: its images are gone from the registry: ${gone.join(", ")}`,
    );
  return planned.map(({ service, image }) => {
    const scan = summary.scans?.find((s) => s.service === service.name);
    const recordedScan: ScanResult = {
      service: service.name,
      image: { repository: image.repository, tag: image.tag, digest: image.digest },
      verdict: "PASSED",
      counts: scan?.counts ?? {},
      blockingIds: [],
      blockingOmitted: 0,
      blockingCounts: {},
      allowed: [],
      warnings: [],
      report: scan?.report ?? "",
      findings: "",
      scannedBy: scan?.scannedBy ?? "report-file",
    };
    return { ...service, tag, digest: image.digest, recordedScan };
  });
}
