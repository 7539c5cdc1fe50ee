import { S3Client } from "@aws-sdk/client-s3";
import middy from "@middy/core";
import { S3FindingsStore } from "../../shared/adapters/aws/s3-findings-store.js";
import { S3ReportStore } from "../../shared/adapters/aws/s3-stores.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { evaluateScan } from "./evaluate-scan.js";

const env = requireEnv("REPORTS_BUCKET_NAME");
const s3 = new S3Client({});
const deps = {
  reports: new S3ReportStore(s3, env.REPORTS_BUCKET_NAME),
  findings: new S3FindingsStore(s3, env.REPORTS_BUCKET_NAME),
  clock: { now: () => new Date() },
};

export const handler = middy()
  .use(powertools("pourover-evaluate-scan").middleware)
  .handler((event: unknown) => evaluateScan(event, deps));
