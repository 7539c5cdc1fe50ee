import { createHash } from "node:crypto";
import { type CfnElement, Stack } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/** The CloudFormation element behind a construct: its default child, or the construct itself (a Cfn*). */
function cfnOf(construct: IConstruct): CfnElement {
  return (construct.node.defaultChild ?? construct) as CfnElement;
}

/**
 * The final logical id of a resource (what cdk-nag prints in its finding ids). `Stack.getLogicalId`
 * returns the allocated id and ignores `overrideLogicalId`; the element's own `logicalId` does not.
 */
export function logicalIdOf(construct: IConstruct): string {
  return Stack.of(construct).resolve(cfnOf(construct).logicalId) as string;
}

/**
 * The logical id CDK allocates to the resource at `path` when that path starts at the stack (CDK's
 * `makeUniqueId`: `Default` components dropped, a single component kept as is, otherwise the
 * alphanumeric path without `Resource` and repeated components, plus 8 hex digits of its MD5).
 */
export function stackLevelLogicalId(path: string): string {
  const components = path.split("/").filter((c) => c !== "Default");
  const alnum = (s: string) => s.replace(/[^A-Za-z0-9]/g, "");
  if (components.length === 1) return alnum(components[0] as string);
  const hash = createHash("md5").update(components.join("/")).digest("hex").slice(0, 8).toUpperCase();
  const human: string[] = [];
  for (const c of components) {
    if (human.length === 0 || !(human[human.length - 1] as string).endsWith(c)) human.push(c);
  }
  return (
    human
      .filter((c) => c !== "Resource")
      .map(alnum)
      .join("")
      .slice(0, 240) + hash
  );
}

/**
 * Keeps the logical id a stateful resource had when it sat directly in the stack at `formerPath`
 * (e.g. `ReportsBucket/Resource`). Moving a construct into another changes the logical ids below it,
 * and CloudFormation replaces a resource whose logical id changed: a deployed bucket, table,
 * repository, key, secret, log group or queue would be recreated empty (or fail on its fixed name).
 */
export function keepLogicalId(construct: IConstruct, formerPath: string): void {
  cfnOf(construct).overrideLogicalId(stackLevelLogicalId(formerPath));
}
