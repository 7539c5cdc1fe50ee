import type { DedupeKey, DeliveryDedupe } from "../../ports/delivery-dedupe.js";

export interface MemoryDeliveryDedupeOptions {
  /** Most keys remembered (delivery ids and body digests together); the oldest go first. @default 10,000 */
  capacity?: number;
  /** How long a key is remembered, as the DynamoDB adapter's TTL. @default 7 days */
  windowMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * In-memory delivery dedupe for tests and `pourover serve`: a bounded, time-windowed LRU, so a
 * long-running local server keeps at most `capacity` short keys (a few hundred bytes each at most),
 * never a history of every delivery.
 */
export class MemoryDeliveryDedupe implements DeliveryDedupe {
  /** key -> expiry (epoch ms), in insertion order (oldest first). */
  private readonly seen = new Map<string, number>();
  private readonly capacity: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: MemoryDeliveryDedupeOptions | number = {}) {
    const o = typeof options === "number" ? { capacity: options } : options;
    this.capacity = o.capacity ?? 10_000;
    this.windowMs = o.windowMs ?? 7 * 24 * 3600 * 1000;
    this.now = o.now ?? Date.now;
  }

  static keyOf(key: DedupeKey): string {
    return key.kind === "delivery" ? `delivery#${key.id}` : `body#${key.sha256}`;
  }

  async firstTime(key: DedupeKey): Promise<boolean> {
    const k = MemoryDeliveryDedupe.keyOf(key);
    const now = this.now();
    const expires = this.seen.get(k);
    if (expires !== undefined && expires > now) return false;
    this.seen.delete(k);
    this.seen.set(k, now + this.windowMs);
    while (this.seen.size > this.capacity) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
    return true;
  }

  async forget(key: DedupeKey): Promise<void> {
    this.seen.delete(MemoryDeliveryDedupe.keyOf(key));
  }

  /** Whether a delivery id (or, with `kind: "body"`, a body digest) is remembered. */
  has(idOrDigest: string, kind: DedupeKey["kind"] = "delivery"): boolean {
    const k = MemoryDeliveryDedupe.keyOf(
      kind === "delivery" ? { kind, id: idOrDigest } : { kind, sha256: idOrDigest },
    );
    const expires = this.seen.get(k);
    return expires !== undefined && expires > this.now();
  }

  /** Keys held now (expired ones included until evicted). */
  get size(): number {
    return this.seen.size;
  }
}
