import { type SESv2Client, SendEmailCommand } from "@aws-sdk/client-sesv2";
import { NotificationFailedError } from "../../domain/errors.js";
import type { EmailMessage, Mailer } from "../../ports/index.js";

/** SES v2 SendEmail. Used in AWS and, with a loopback endpoint, against aws-ses-v2-local. */
export class SesMailer implements Mailer {
  constructor(private readonly client: SESv2Client) {}

  async send(message: EmailMessage): Promise<{ messageId: string }> {
    try {
      const out = await this.client.send(
        new SendEmailCommand({
          FromEmailAddress: message.from,
          Destination: { ToAddresses: message.to },
          Content: {
            Simple: {
              Subject: { Data: message.subject, Charset: "UTF-8" },
              Body: {
                Text: { Data: message.text, Charset: "UTF-8" },
                Html: { Data: message.html, Charset: "UTF-8" },
              },
            },
          },
        }),
      );
      return { messageId: out.MessageId ?? "unknown" };
    } catch (error) {
      // Throttling, sandbox and transport errors: retryable by the workflow, recorded if they persist.
      throw new NotificationFailedError(
        `SES did not accept the email: ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
  }
}
