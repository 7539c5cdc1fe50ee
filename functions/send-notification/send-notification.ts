import type { AppConfig } from "../../shared/contracts/app-config.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { renderReleaseEmail } from "../../shared/domain/release-email.js";
import type { Mailer } from "../../shared/ports/index.js";

export interface SendNotificationInput {
  outcome: "SUCCEEDED" | "FAILED";
  release: ReleaseState;
  executionId: string;
}

/** Renders and sends the outcome email. Recipients: `to`, plus `onFailure` when the release failed. */
export async function sendNotification(
  input: SendNotificationInput,
  deps: { config: AppConfig; mailer: Mailer; executionUrl: (executionId: string) => string },
): Promise<{ messageId: string; subject: string; to: string[] }> {
  const email = renderReleaseEmail({
    outcome: input.outcome,
    release: input.release,
    executionUrl: deps.executionUrl(input.executionId),
  });
  const { notify } = deps.config;
  const to = [...new Set(input.outcome === "FAILED" ? [...notify.to, ...notify.onFailure] : notify.to)];
  const { messageId } = await deps.mailer.send({ from: notify.from, to, ...email });
  return { messageId, subject: email.subject, to };
}
