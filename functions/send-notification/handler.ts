import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { bundledAppConfig } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type SendNotificationInput, sendNotification } from "./send-notification.js";

const config = bundledAppConfig();
const mailer = firstUse(async () => {
  const [{ SESv2Client }, { SesMailer }] = await Promise.all([
    import("../../shared/adapters/aws/clients/sesv2.js"),
    import("../../shared/adapters/aws/ses-mailer.js"),
  ]);
  return new SesMailer(new SESv2Client({}));
});

export const handler = middy<SendNotificationInput>()
  .use(powertools("pourover-send-notification").middleware)
  .handler(async (event) =>
    sendNotification(event, { config, mailer: await mailer(), executionUrl: executionConsoleUrl }),
  );
