import { DescribeImagesCommand, type ECRClient, ImageNotFoundException } from "@aws-sdk/client-ecr";
import type { ImagePresence } from "../../domain/rollback.js";
import type { ImageRegistry } from "../../ports/index.js";

export class EcrImageRegistry implements ImageRegistry, ImagePresence {
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

  /**
   * Whether the image `digest` is still in `repository` (a rollback pins it again). DescribeImages
   * with an imageId that the repository does not hold fails with ImageNotFoundException.
   */
  async exists(repository: string, digest: string): Promise<boolean> {
    try {
      const out = await this.client.send(
        new DescribeImagesCommand({ repositoryName: repository, imageIds: [{ imageDigest: digest }] }),
      );
      return (out.imageDetails ?? []).some((d) => d.imageDigest === digest);
    } catch (error) {
      if (error instanceof ImageNotFoundException) return false;
      throw error;
    }
  }
}
