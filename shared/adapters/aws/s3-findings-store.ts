import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parseFindingsDocument, type ScanFindingsDocument } from "../../contracts/release-state.js";
import type { FindingsStore } from "../../ports/findings-store.js";

/**
 * Scan findings as JSON objects in the reports bucket. S3's PutObject stores a whole object or none
 * (a success response means the entire object was added), and a second write to the same key
 * replaces the first: a retried EvaluateScan rewrites the same object.
 */
export class S3FindingsStore implements FindingsStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, document: ScanFindingsDocument): Promise<string> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(document),
        ContentType: "application/json",
      }),
    );
    return `s3://${this.bucket}/${key}`;
  }

  /** Reads only from the pipeline's own bucket. */
  async read(location: string): Promise<ScanFindingsDocument> {
    const prefix = `s3://${this.bucket}/`;
    if (!location.startsWith(prefix) || location.length === prefix.length)
      throw new Error(`findings ${location} are not in the reports bucket ${this.bucket}`);
    const out = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: location.slice(prefix.length) }),
    );
    return parseFindingsDocument((await out.Body?.transformToString("utf-8")) ?? "", location);
  }
}
