/**
 * What is deduplicated. `X-GitHub-Delivery` is not covered by the signature, so anyone who saw one
 * signed body can replay it under fresh ids: the SHA-256 of the signed body is remembered as well,
 * for the same window, and a body seen before starts nothing whatever its delivery id.
 */
export type DedupeKey = { kind: "delivery"; id: string } | { kind: "body"; sha256: string };

/** Webhook delivery dedupe: DynamoDB in AWS, memory locally. */
export interface DeliveryDedupe {
  /** Atomically records `key`; true the first time it is seen within the window, false afterwards. */
  firstTime(key: DedupeKey): Promise<boolean>;
  /** Removes the record, so that a redelivery after a failed publish is not taken for a duplicate. */
  forget(key: DedupeKey): Promise<void>;
}
