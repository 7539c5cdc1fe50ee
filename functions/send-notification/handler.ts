import { SESv2Client } from "@aws-sdk/client-sesv2";
import middy from "@middy/core";
import { SesMailer } from "../../shared/adapters/aws/ses-mailer.js";
import { bundledAppConfig } from "../../shared/config/lambda-env.js";
import { executionConsoleUrl } from "../../shared/domain/console-url.js";
import { powertools } from "../../shared/observability/powertools.js";
import { type SendNotificationInput, sendNotification } from "./send-notification.js";

const deps = {
  config: bundledAppConfig(),
  mailer: new SesMailer(new SESv2Client({})),
  executionUrl: executionConsoleUrl,
};

export const handler = middy<SendNotificationInput>()
  .use(powertools("pourover-send-notification").middleware)
  .handler((event) => sendNotification(event, deps));
