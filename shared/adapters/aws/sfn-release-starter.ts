import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import type { ReleaseRequest } from "../../contracts/release.js";
import type { ReleaseStarter } from "../../ports/index.js";

/** Starts release executions on the state machine; a name already used is reported, not thrown. */
export class SfnReleaseStarter implements ReleaseStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(
    name: string,
    request: ReleaseRequest,
  ): Promise<{ started: boolean; executionId: string | null }> {
    try {
      const out = await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name,
          input: JSON.stringify(request),
        }),
      );
      return { started: true, executionId: out.executionArn ?? null };
    } catch (error) {
      // Names are unique per state machine for 90 days: an earlier run already started this one.
      if (error instanceof ExecutionAlreadyExists) return { started: false, executionId: null };
      throw error;
    }
  }
}
