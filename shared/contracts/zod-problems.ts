import type * as z from "zod";

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
