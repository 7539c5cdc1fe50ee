#!/usr/bin/env bash
# `npm run test:integ`: the integration test on a real AWS account (README, "Contract and integration
# tests"). Deploys the pipeline, the dev host and the integ-tests assertion stack, whose custom
# resources start a release and wait for NotifySuccess (the deploy fails when an assertion fails),
# then destroys everything whatever the outcome. Needs credentials, a bootstrapped account/region,
# and the POUROVER_INTEG_* inputs. On success it re-records the offline snapshot.
#
# integ-runner is the CDK convention for this, but its newest release reads cloud assembly schema 53
# at most while aws-cdk-lib 2.276 writes 55, so this uses the project's own CDK CLI on the same app.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
for name in ACCOUNT REGION SOURCE_REPO MANIFESTS_REPO FROM TO; do
  var="POUROVER_INTEG_${name}"
  if [ -z "${!var:-}" ]; then
    echo "test:integ: set ${var} (see README, Contract and integration tests)" >&2
    exit 2
  fi
done
app="node --import tsx test/integ/integ.release.ts"
out="cdk.out.integ"
export CDK_DEFAULT_ACCOUNT="$POUROVER_INTEG_ACCOUNT" CDK_DEFAULT_REGION="$POUROVER_INTEG_REGION"
npx cdk deploy --app "$app" --output "$out" --all --require-approval never
status=$?
npx cdk destroy --app "$app" --output "$out" --all --force || status=1
if [ "$status" -eq 0 ]; then
  echo "test:integ: passed; recording the snapshot with the default inputs"
  npm run test:integ:update-snapshot
fi
exit "$status"
