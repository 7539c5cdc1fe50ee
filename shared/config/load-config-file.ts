import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { type AppConfig, parseAppConfig } from "../contracts/app-config.js";
import { InvalidInputError } from "../domain/errors.js";

/** Reads a YAML (or JSON) app config file and validates it; every problem is one line naming the field. */
export function loadConfigFile(path: string): AppConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new InvalidInputError(`${path}: cannot read the config file`);
  }
  let raw: unknown;
  try {
    raw = parse(text, { prettyErrors: true });
  } catch (error) {
    throw new InvalidInputError(`${path}: not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  return parseAppConfig(raw, path);
}
