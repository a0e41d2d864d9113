// Resolve workspace packages to their TypeScript sources (the "@tributary/source" export
// condition), so tests never need a prior build and always see the current code.
const conditions = ['@tributary/source', 'node', 'import', 'module', 'default'];

export const sourceConditions = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};
