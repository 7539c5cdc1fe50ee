import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import middy from "@middy/core";
import { Ec2DevHosts } from "../../shared/adapters/aws/ec2-dev-hosts.js";
import { powertools } from "../../shared/observability/powertools.js";
import { wakeDevHost } from "./wake-dev-host.js";

const deps = { hosts: new Ec2DevHosts(new EC2Client({}), new SSMClient({})) };

export const handler = middy<unknown>()
  .use(powertools("pourover-wake-dev-host").middleware)
  .handler((event) => wakeDevHost(event, deps));
