import * as z from "zod";
import type { AppConfig } from "../../shared/contracts/app-config.js";
import { lazySchema } from "../../shared/contracts/lazy-schema.js";
import type { ReleaseState } from "../../shared/contracts/release-state.js";
import { releaseStateField } from "../../shared/contracts/release-state-field.js";
import { parseInput } from "../../shared/contracts/zod-problems.js";
import { notifyOutcomeOf, renderReleaseEmail } from "../../shared/domain/release-email.js";
import type { Clock, Mailer } from "../../shared/ports/index.js";

const inputSchema = lazySchema(() =>
  z.object({
    outcome: z.enum(["SUCCEEDED", "FAILED"]),
    release: releaseStateField(),
    executionId: z.string(),
  }),
);

export type SendNotificationInput = z.infer<ReturnType<typeof inputSchema>>;

/** Who gets the email: `to`, plus `onFailure` on any failure, plus `byOutcome[<outcome>]`. */
export function recipientsFor(
  notify: AppConfig["notify"],
  outcome: "SUCCEEDED" | "FAILED",
  release: ReleaseState,
): string[] {
  const kind = notifyOutcomeOf(outcome, release);
  return [
    ...new Set([
      ...notify.to,
      ...(outcome === "FAILED" ? notify.onFailure : []),
      ...(notify.byOutcome?.[kind] ?? []),
    ]),
  ];
}

/** Renders and sends the outcome email; a send error propagates for the workflow to retry and record. */
export async function sendNotification(
  raw: unknown,
  deps: {
    config: AppConfig;
    mailer: Mailer;
    executionUrl: (executionId: string) => string;
    clock?: Clock;
  },
): Promise<{ messageId: string; subject: string; to: string[] }> {
  const input = parseInput(inputSchema(), raw, "SendNotification");
  const region = input.executionId.startsWith("arn:") ? input.executionId.split(":")[3] : undefined;
  const email = renderReleaseEmail({
    outcome: input.outcome,
    release: input.release,
    executionUrl: deps.executionUrl(input.executionId),
    now: (deps.clock ?? { now: () => new Date() }).now(),
    ...(region ? { region } : {}),
  });
  const to = recipientsFor(deps.config.notify, input.outcome, input.release);
  const { messageId } = await deps.mailer.send({ from: deps.config.notify.from, to, ...email });
  return { messageId, subject: email.subject, to };
}
