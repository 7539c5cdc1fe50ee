import { GraphqlResponseError } from "@octokit/graphql";
import { RequestError } from "@octokit/request-error";
import { ManifestConflictError, ManifestInvalidError } from "../../domain/errors.js";

const CONFLICT_422 =
  /reference already exists|not a fast.?forward|reference does not exist|object does not exist/i;

/** GitHub's own message (and its `errors` details), without Octokit's docs link. */
export function githubMessage(error: unknown): string {
  const data = (error instanceof RequestError ? error.response?.data : undefined) as
    | { message?: string; errors?: ({ message?: string; code?: string; field?: string } | string)[] }
    | undefined;
  const parts: string[] = [];
  if (data?.message) parts.push(data.message);
  for (const e of data?.errors ?? []) {
    if (typeof e === "string") parts.push(e);
    else if (e?.message) parts.push(e.message);
    else if (e?.code) parts.push([e.code, e.field].filter(Boolean).join(" "));
  }
  if (parts.length > 0) return parts.join(": ");
  return error instanceof Error ? error.message : String(error);
}

/** GitHub's failures as the pipeline's named errors: conflicts retry, the rest are terminal. */
export function mapError(error: unknown): unknown {
  if (error instanceof ManifestConflictError || error instanceof ManifestInvalidError) return error;
  const status = error instanceof RequestError ? error.status : undefined;
  const message = githubMessage(error);
  if (status === 409) return new ManifestConflictError(`GitHub: ${message}`);
  if (status === 422) {
    return CONFLICT_422.test(message)
      ? new ManifestConflictError(`GitHub: ${message}`)
      : new ManifestInvalidError(`GitHub rejected the change (422): ${message}`);
  }
  if (status === 404) return new ManifestInvalidError(`GitHub: not found (404): ${message}`);
  // GraphQL errors (HTTP 200 with `errors`).
  if (error instanceof GraphqlResponseError && (error.errors?.length ?? 0) > 0) {
    const gqlErrors = (error.errors ?? []) as { type?: string; message: string }[];
    const text = gqlErrors.map((e) => e.message).join("; ");
    if (
      gqlErrors.some(
        (e) => e.type === "NOT_FOUND" || e.type === "INVALID_ARGUMENT" || e.type === "UNPROCESSABLE",
      )
    ) {
      return new ManifestInvalidError(`GitHub GraphQL: ${text}`);
    }
  }
  return error;
}
