import { type ECRClient, paginateDescribeImages } from "@aws-sdk/client-ecr";
import type { ImageLister, TaggedImage } from "../../ports/index.js";

/**
 * Recent tagged images through ECR DescribeImages. ECR cannot filter by push time, so every tagged
 * image is paged through (1,000 per call) and the push time is checked here.
 */
export class EcrImageLister implements ImageLister {
  constructor(private readonly client: ECRClient) {}

  async recentImages(repository: string, since: Date): Promise<TaggedImage[]> {
    const images: TaggedImage[] = [];
    const pages = paginateDescribeImages(
      { client: this.client, pageSize: 1000 },
      { repositoryName: repository, filter: { tagStatus: "TAGGED" } },
    );
    for await (const page of pages) {
      for (const detail of page.imageDetails ?? []) {
        const pushedAt = detail.imagePushedAt;
        if (!pushedAt || !detail.imageDigest || !detail.imageTags?.length) continue;
        if (pushedAt.getTime() < since.getTime()) continue;
        images.push({ repository, digest: detail.imageDigest, tags: detail.imageTags, pushedAt });
      }
    }
    return images;
  }
}
