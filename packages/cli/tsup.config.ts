import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    target: 'node20',
    sourcemap: true,
    clean: true,
    splitting: false,
    external: [/^@tributary\//],
  },
  {
    // The executable: ESM only (package.json "bin": "./dist/bin.js"), shebang kept.
    entry: ['src/bin.ts'],
    format: ['esm'],
    dts: false,
    target: 'node20',
    sourcemap: true,
    clean: false,
    splitting: false,
    external: [/^@tributary\//],
  },
]);
