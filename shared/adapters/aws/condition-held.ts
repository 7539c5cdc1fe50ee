import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";

/**
 * Awaits a conditional write (a PutItem or UpdateItem with a ConditionExpression): true when DynamoDB
 * applied it, false when DynamoDB refused it because the condition did not hold. Every other error is
 * thrown. The caller builds the command, so each adapter method still names the call it makes.
 */
export async function conditionHeld(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
