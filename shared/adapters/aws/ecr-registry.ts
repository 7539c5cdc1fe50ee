import { DescribeImagesCommand, type ECRClient, ImageNotFoundException } from "@aws-sdk/client-ecr";
import type { ImageRegistry } from "../../ports/index.js";

export class EcrImageRegistry implements ImageRegistry {
  constructor(private readonly client: ECRClient) {}

  async digestOf(repository: string, tag: string): Promise<string | null> {
    try {
      const out = await this.client.send(
        new DescribeImagesCommand({ repositoryName: repository, imageIds: [{ imageTag: tag }] }),
      );
      return out.imageDetails?.[0]?.imageDigest ?? null;
    } catch (error) {
      if (error instanceof ImageNotFoundException) return null;
      throw error;
    }
  }
}
