import middy from "@middy/core";
import type { ScanResult } from "../../shared/contracts/release.js";
import { powertools } from "../../shared/observability/powertools.js";
import { gateOnScan } from "./gate-on-scan.js";

export const handler = middy<{ scans?: ScanResult[] }>()
  .use(powertools("pourover-gate-on-scan").middleware)
  .handler(async (event) => gateOnScan(event));
