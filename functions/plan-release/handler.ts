import middy from "@middy/core";
import { bundledAppConfig } from "../../shared/config/lambda-env.js";
import { planRelease } from "./plan-release.js";

const config = bundledAppConfig();

export const handler = middy().handler(async (event: unknown) => planRelease(event, config));
