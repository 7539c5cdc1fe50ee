/** Link to an execution in the Step Functions console; the region is read from the execution ARN. */
export function executionConsoleUrl(executionArn: string): string {
  const region = executionArn.split(":")[3] ?? "us-east-1";
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${encodeURIComponent(executionArn)}`;
}
