import type { DeliveryDedupe } from "../../../functions/receive-github-webhook/receive-github-webhook.js";

/**
 * In-memory delivery dedupe for tests and `pourover serve`. Remembers at most `capacity` delivery
 * ids (oldest forgotten first), so a long-running local server does not grow without bound.
 */
export class MemoryDeliveryDedupe implements DeliveryDedupe {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  async firstTime(deliveryId: string): Promise<boolean> {
    if (this.seen.has(deliveryId)) return false;
    this.seen.add(deliveryId);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }

  async forget(deliveryId: string): Promise<void> {
    this.seen.delete(deliveryId);
  }

  has(deliveryId: string): boolean {
    return this.seen.has(deliveryId);
  }
}
