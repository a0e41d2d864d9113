// Resolve workspace packages to their TypeScript sources (the "@tributary/source" export
// condition), so tests never need a prior build and always see the current code.
// Vite adds "import"/"require"/"default" by itself; vitest also hands these conditions to Node's
// --conditions, where they apply to require() too, so "import" or "module" here would make CJS
// packages (pg → pg-pool) load ESM wrappers.
const conditions = ['@tributary/source', 'node'];

export const sourceConditions = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};
