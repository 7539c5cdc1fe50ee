import middy from "@middy/core";
import type { ScanResult } from "../../shared/contracts/release.js";
import { gateOnScan } from "./gate-on-scan.js";

export const handler = middy<{ scans?: ScanResult[] }>().handler(async (event) => gateOnScan(event));
