import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { PipelineStack } from "../../infra/stacks/pipeline-stack.js";
import { pipelineRules } from "../../local/event-rules.js";
import { exampleConfig } from "../helpers/local.js";

/** The local engine routes events with the patterns the stack actually synthesizes. */
describe("local rules = synthesized rules", () => {
  const config = exampleConfig();
  // Bundling is skipped: only the rules are compared here.
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const template = Template.fromStack(new PipelineStack(app, "Rules", { config }));
  const rules = template.findResources("AWS::Events::Rule");
  // The trigger rules belong to the stack's Triggers construct, whose id prefixes their logical ids.
  const byId = (id: string) =>
    Object.entries(rules).find(([logicalId]) => logicalId.startsWith(`Triggers${id}`))?.[1];

  it.each(pipelineRules(config).map((r) => [r.id, r] as const))(
    "%s has the same event pattern",
    (id, rule) => {
      expect(byId(id)?.Properties.EventPattern).toEqual(rule.pattern);
    },
  );
});
