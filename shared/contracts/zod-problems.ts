import type * as z from "zod";
import { InvalidInputError } from "../domain/errors.js";

/** One line per problem, naming the field: `services[2].repository: Invalid input: expected string`. */
export function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.reduce<string>((acc, key) => {
      if (typeof key === "number") return `${acc}[${key}]`;
      return acc ? `${acc}.${String(key)}` : String(key);
    }, "");
    return `${path || "(root)"}: ${issue.message}`;
  });
}

/**
 * `raw` parsed with `schema`, or an InvalidInputError `<label>: <problem>; <problem>` listing each
 * problem: what every core does first with its input from the workflow.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, label: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = zodProblems(parsed.error);
  throw new InvalidInputError(`${label}: ${problems.join("; ")}`, problems);
}
