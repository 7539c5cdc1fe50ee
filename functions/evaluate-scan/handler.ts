import middy from "@middy/core";
import { firstUse } from "../../shared/adapters/first-use.js";
import { requireEnv } from "../../shared/config/lambda-env.js";
import { powertools } from "../../shared/observability/powertools.js";
import { evaluateScan } from "./evaluate-scan.js";

const env = requireEnv("REPORTS_BUCKET_NAME");
const clock = { now: () => new Date() };
const stores = firstUse(async () => {
  const [{ S3Client }, { S3FindingsStore }, { S3ReportStore }] = await Promise.all([
    import("../../shared/adapters/aws/clients/s3.js"),
    import("../../shared/adapters/aws/s3-findings-store.js"),
    import("../../shared/adapters/aws/s3-stores.js"),
  ]);
  const s3 = new S3Client({});
  return {
    reports: new S3ReportStore(s3, env.REPORTS_BUCKET_NAME),
    findings: new S3FindingsStore(s3, env.REPORTS_BUCKET_NAME),
  };
});

export const handler = middy()
  .use(powertools("pourover-evaluate-scan").middleware)
  .handler(async (event: unknown) => evaluateScan(event, { ...(await stores()), clock }));
