// The e2e app's worker once more, as a classic service worker: one self-contained IIFE file
// (e2e/.dist/sw-classic.js), for browsers or hosts without module workers. README: "Plain Vite".
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  logLevel: 'warn',
  resolve: {
    alias: {
      '@halfsync/core/worker': src('./packages/core/src/worker.ts'),
      '@halfsync/core/http': src('./packages/core/src/http.ts'),
      '@halfsync/core': src('./packages/core/src/index.ts'),
    },
  },
  build: {
    outDir: src('./e2e/.dist'),
    emptyOutDir: false,
    copyPublicDir: false,
    target: 'es2022',
    lib: { entry: src('./e2e/fixture/sw.ts'), formats: ['iife'], name: 'halfsyncWorker', fileName: () => 'sw-classic.js' },
  },
});
