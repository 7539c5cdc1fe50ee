/**
 * Test-only hooks, read from the environment once. Never set in normal use: they exist so that the
 * end-to-end tests can stop a real `pourover release` process at an exact point (to interrupt it
 * there) without timing guesses.
 */
import { inheritedEnv } from "../shared/config/local-env.js";

export interface TestPause {
  /** Pause before the state's handler runs, or after it returned. */
  when: "before" | "after";
  state: string;
}

/**
 * `POUROVER_TEST_PAUSE=after:ClaimRelease` (or `before:NotifySuccess`): the local engine prints
 * `pourover: test pause ...` on stderr there and waits until the release is interrupted.
 */
export function loadTestPause(env: NodeJS.ProcessEnv = inheritedEnv()): TestPause | null {
  const raw = env.POUROVER_TEST_PAUSE;
  if (!raw) return null;
  const m = /^(before|after):([A-Za-z?]+)$/.exec(raw);
  if (!m) throw new Error(`POUROVER_TEST_PAUSE must be before:<State> or after:<State>, got "${raw}"`);
  return { when: m[1] as TestPause["when"], state: m[2] as string };
}
