/**
 * Container image references, parsed the way docker does it and written back exactly as written.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ registry "/" ] path
 *   registry   := host [ ":" port ]       (the first path component, when it contains "." or ":"
 *                                           or is "localhost", and more components follow)
 *   path       := component ( "/" component )*     component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ":" hex{32,}
 *
 * Nothing is normalised: `postgres` stays `postgres` (not `docker.io/library/postgres`), so
 * `format(parse(x)) === x` for every valid reference.
 */

export interface ImageReference {
  /** "ghcr.io", "localhost:5000", "123456789012.dkr.ecr.us-east-1.amazonaws.com"; null when none is written. */
  registry: string | null;
  /** The registry-less path as written: "library/postgres", "go-coffeeshop-web". */
  repository: string;
  tag: string | null;
  /** "sha256:<64 hex>" (any registered algorithm is accepted when parsing). */
  digest: string | null;
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const REGISTRY = new RegExp(
  `^(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
/** Docker caps the full name (registry + path) at 255 characters. */
const MAX_NAME_LENGTH = 255;

/** Parses an image reference; null when the string is not one (empty, `${VAR}`, spaces, upper case, ...). */
export function parseImageReference(ref: string): ImageReference | null {
  if (ref.length === 0 || ref.length > 1024) return null;
  let rest = ref;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return null;
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon !== -1 && colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return null;
  }
  if (rest.length === 0 || rest.length > MAX_NAME_LENGTH) return null;
  let registry: string | null = null;
  let repository = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      if (!REGISTRY.test(first)) return null;
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  for (const component of repository.split("/")) {
    if (!COMPONENT.test(component)) return null;
  }
  return { registry, repository, tag, digest };
}

/** Writes a reference back: `[registry/]repository[:tag][@digest]`. */
export function formatImageReference(ref: ImageReference): string {
  let out = ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
  if (ref.tag) out += `:${ref.tag}`;
  if (ref.digest) out += `@${ref.digest}`;
  return out;
}

/** The name an image is matched on: registry (with port) and path, as written, without tag or digest. */
export function imageName(ref: ImageReference): string {
  return ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
}
