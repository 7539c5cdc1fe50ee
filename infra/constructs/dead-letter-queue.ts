import { Duration, Validations } from "aws-cdk-lib";
import * as sqs from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";

/**
 * A queue that is itself where undeliverable events or failed invocations land (a rule target's
 * dead-letter queue, an on-failure destination): SQS-managed encryption, TLS only, kept 14 days for
 * inspection and redrive. cdk-nag's AwsSolutions-SQS3 (no dead-letter queue of its own) is
 * acknowledged with `reason`, which says whose failures it holds.
 */
export function deadLetterQueue(scope: Construct, id: string, reason: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({ id: "AwsSolutions-SQS3", reason });
  return queue;
}
