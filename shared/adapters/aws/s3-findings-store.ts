import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parseFindingsDocument, type ScanFindingsDocument } from "../../contracts/release-state.js";
import type { FindingsStore } from "../../ports/findings-store.js";
import { S3ReportStore } from "./s3-stores.js";

/**
 * Scan findings as JSON objects in the reports bucket. S3's PutObject stores a whole object or none
 * (a success response means the entire object was added), and a second write to the same key
 * replaces the first: a retried EvaluateScan rewrites the same object.
 */
export class S3FindingsStore implements FindingsStore {
  private readonly objects: S3ReportStore;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {
    this.objects = new S3ReportStore(client, bucket);
  }

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
    return parseFindingsDocument(await this.objects.read(location), location);
  }
}
