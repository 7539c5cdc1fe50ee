import { RequestError } from "@octokit/request-error";
import type { Changelog } from "../../domain/pull-request-body.js";
import type { DevReport, PullRequestReporter, SourceHistory } from "../../ports/release-review.js";
import type { GithubClient } from "./github-client.js";

/** The commit status context Pourover owns: branch protection can require it before merge. */
export const DEV_STATUS_CONTEXT = "pourover/dev";
/** GitHub keeps a status description short; longer ones are cut here rather than refused there. */
const STATUS_DESCRIPTION_MAX = 140;

function split(repo: { owner: string; repo: string } | string): { owner: string; repo: string } {
  if (typeof repo !== "string") return repo;
  const [owner = "", name = ""] = repo.split("/");
  return { owner, repo: name };
}

/** A GitHub client bound to one repository, given as `owner/repo` or as its two parts. */
abstract class OneRepository {
  protected readonly target: { owner: string; repo: string };

  constructor(
    protected readonly octokit: GithubClient,
    repo: { owner: string; repo: string } | string,
  ) {
    this.target = split(repo);
  }
}

/**
 * The app's source repository on GitHub: the changelog is ONE call to "Compare two commits"
 * (`GET /repos/{owner}/{repo}/compare/{base}...{head}`), whose `commits` are listed oldest first and
 * paginated; `per_page` caps what the body lists, `total_commits` counts them all, and `html_url`
 * is the full comparison the body links to.
 */
export class GithubSourceHistory extends OneRepository implements SourceHistory {
  async changelog(base: string, head: string, limit: number): Promise<Changelog> {
    try {
      const out = await this.octokit.request("GET /repos/{owner}/{repo}/compare/{basehead}", {
        ...this.target,
        basehead: `${base}...${head}`,
        per_page: limit,
        page: 1,
      });
      const data = out.data as {
        html_url: string;
        total_commits: number;
        commits: {
          sha: string;
          commit: { message: string; author: { name?: string } | null };
          author: { login?: string } | null;
        }[];
      };
      return {
        available: true,
        base,
        head,
        total: data.total_commits,
        url: data.html_url,
        commits: data.commits.slice(0, limit).map((c) => ({
          sha: c.sha,
          title: (c.commit.message.split("\n")[0] ?? "").slice(0, 120),
          author: c.author?.login ?? c.commit.author?.name ?? "unknown",
        })),
      };
    } catch (error) {
      // The changelog informs the reviewer; it never fails the release.
      const status = error instanceof RequestError ? error.status : undefined;
      return {
        available: false,
        reason: `GitHub compare ${base}...${head} failed${status ? ` (${status})` : ""}: ${oneLine(error)}`,
      };
    }
  }
}

/**
 * Writes the dev result and prod feedback onto the release PR on GitHub:
 * reportDev = `PATCH /repos/{owner}/{repo}/pulls/{n}` (the body, dev section rewritten) and
 * "Create a commit status" `POST /repos/{owner}/{repo}/statuses/{sha}` with context `pourover/dev`
 * (states error, failure, pending, success; a later status of the same context replaces the earlier
 * one in the UI): two calls. comment = `POST /repos/{owner}/{repo}/issues/{n}/comments`: one call.
 */
export class GithubPullRequestReporter extends OneRepository implements PullRequestReporter {
  async reportDev(input: DevReport): Promise<void> {
    if (input.number !== null) {
      await this.octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", {
        ...this.target,
        pull_number: input.number,
        body: input.body,
      });
    }
    if (input.commit !== null) {
      await this.octokit.request("POST /repos/{owner}/{repo}/statuses/{sha}", {
        ...this.target,
        sha: input.commit,
        state: input.status.state,
        description: input.status.description.slice(0, STATUS_DESCRIPTION_MAX),
        target_url: input.status.targetUrl,
        context: DEV_STATUS_CONTEXT,
      });
    }
  }

  async comment(input: { number: number | null; branch: string; body: string }): Promise<void> {
    if (input.number === null) return;
    await this.octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
      ...this.target,
      issue_number: input.number,
      body: input.body,
    });
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] ?? "").slice(0, 200);
}
