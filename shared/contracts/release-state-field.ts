import * as z from "zod";
import type { ReleaseState } from "./release-state.js";

/** The workflow's state as the workflow built it: an object naming its app and tag. */
const isReleaseState = (v: unknown): v is ReleaseState =>
  typeof v === "object" &&
  v !== null &&
  "app" in v &&
  typeof v.app === "string" &&
  "tag" in v &&
  typeof v.tag === "string";

/** The `release` field of a core's input: the release state, checked for what names it (app, tag). */
export const releaseStateField = () =>
  z.custom<ReleaseState>(isReleaseState, "expected the release state (app, tag)");
