import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { ArtifactStore, ReportStore } from "../../ports/index.js";

/** Reads s3://bucket/key reports, only from the pipeline's own bucket. */
export class S3ReportStore implements ReportStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async read(location: string): Promise<string> {
    const prefix = `s3://${this.bucket}/`;
    if (!location.startsWith(prefix) || location.length === prefix.length)
      throw new Error(`${location} is not in the reports bucket ${this.bucket}`);
    const out = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: location.slice(prefix.length) }),
    );
    return (await out.Body?.transformToString("utf-8")) ?? "";
  }
}

export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: string): Promise<string> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/yaml" }),
    );
    return key;
  }
}
