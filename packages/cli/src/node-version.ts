/**
 * The lowest Node.js the packages run on: `engines.node` of every manifest says `>=20.15`
 * (`zlib.crc32`, which vbucket hashing uses, came in 20.15; on older versions importing the
 * codec fails with a SyntaxError that names no version).
 */
export const MIN_NODE_VERSION = '20.15.0';

/** Why `version` is too old for Tributary, or undefined when it is new enough. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const need = MIN_NODE_VERSION.split('.').map(Number);
  for (let i = 0; i < need.length; i++) {
    const h = have[i] ?? 0;
    if (h > need[i]!) return undefined;
    if (h < need[i]!) return `Node.js ${MIN_NODE_VERSION} or newer is needed; this is ${version}`;
  }
  return undefined;
}
