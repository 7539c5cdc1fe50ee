import { beforeAll, describe, expect, it } from "vitest";
import { type Json, resourcesOf, SYNTH_TIMEOUT_MS, synthPipeline } from "./synth-helper.js";

/**
 * EvaluateScan keeps each service's full findings in the reports bucket and passes only a summary
 * through the execution (a state over 256 KiB fails the execution, uncaught): it needs PutObject
 * there, on the app's reports prefix and nowhere else.
 */
describe("EvaluateScan's grants for the stored findings", () => {
  let template: ReturnType<typeof synthPipeline>["template"];
  beforeAll(() => {
    template = synthPipeline({ bundle: false }).template;
  }, SYNTH_TIMEOUT_MS);

  const statementsOfRole = (prefix: string): Json[] => {
    const roles = resourcesOf(template, "AWS::IAM::Role").filter(([id]) => id.startsWith(prefix));
    expect(roles, prefix).toHaveLength(1);
    const roleId = (roles[0] as [string, Json])[0];
    return resourcesOf(template, "AWS::IAM::Policy")
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
  };
  const actions = (s: Json): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
  const reportsBucketId = () =>
    (
      resourcesOf(template, "AWS::S3::Bucket").find(([, b]) =>
        JSON.stringify(b.Properties.LifecycleConfiguration ?? {}).includes('"Prefix":"coffeeshop/"'),
      ) as [string, Json]
    )[0];

  it("PutObject on <reports bucket>/<app>/* only; reads stay GetObject on the same prefix", () => {
    const statements = statementsOfRole("ReleaseFunctionsEvaluateScanRole");
    const puts = statements.filter((s) => actions(s).includes("s3:PutObject"));
    expect(puts).toHaveLength(1);
    expect(puts[0].Effect).toBe("Allow");
    expect(actions(puts[0])).toEqual(["s3:PutObject"]);
    expect(puts[0].Resource).toEqual({
      "Fn::Join": ["", [{ "Fn::GetAtt": [reportsBucketId(), "Arn"] }, "/coffeeshop/*"]],
    });
    const gets = statements.filter((s) => actions(s).includes("s3:GetObject"));
    expect(gets.map((s) => s.Resource)).toEqual([puts[0].Resource]);
    // Nothing else in S3: no delete, no listing, no other bucket.
    const s3Actions = statements.flatMap(actions).filter((a) => a.startsWith("s3:"));
    expect(s3Actions.sort()).toEqual(["s3:GetObject", "s3:PutObject"]);
  });
});
