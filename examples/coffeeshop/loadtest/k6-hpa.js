// Load test for Go CoffeeShop in prod: pushes the web and proxy Deployments to their HPA maximum so
// the Datadog "HPA at max replicas" monitor fires (and, if pods run hot, the CPU monitor).
//
//   k6 run -e BASE_URL=https://coffee.example.com examples/coffeeshop/loadtest/k6-hpa.js
//
// Options (environment, all optional except BASE_URL):
//   PATHS     comma-separated paths to hit   (default "/,/proxy/v1/api/item-types")
//   VUS       concurrent virtual users        (default 200)
//   HOLD      how long to hold the peak       (default 15m: the HPA scales within ~1-3 min, the
//                                              monitor needs 5 min at max)
import { check, sleep } from "k6";
import http from "k6/http";

const baseUrl = (__ENV.BASE_URL || "").replace(/\/$/, "");
if (!/^https?:\/\/\S+$/.test(baseUrl))
  throw new Error("set BASE_URL, e.g. -e BASE_URL=https://coffee.example.com");
const paths = (__ENV.PATHS || "/,/proxy/v1/api/item-types").split(",").filter(Boolean);
const vus = Number(__ENV.VUS || 200);
const hold = __ENV.HOLD || "15m";

export const options = {
  scenarios: {
    scale_out: {
      executor: "ramping-vus",
      startVUs: 0,
      stages: [
        { duration: "2m", target: vus },
        { duration: hold, target: vus },
        { duration: "1m", target: 0 },
      ],
      gracefulRampDown: "30s",
    },
  },
  // The run itself fails if the app breaks under load; 5xx also fire the ingress monitor.
  thresholds: {
    http_req_failed: ["rate<0.05"],
    http_req_duration: ["p(95)<2000"],
  },
};

export default function () {
  for (const path of paths) {
    const res = http.get(`${baseUrl}${path}`, { tags: { path } });
    check(res, { "status is 2xx": (r) => r.status >= 200 && r.status < 300 });
  }
  sleep(0.1);
}
