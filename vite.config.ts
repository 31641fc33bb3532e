// Builds the e2e app (e2e/fixture): the page and its module service worker, served by e2e/server.mjs.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: src('./e2e/fixture'),
  logLevel: 'warn',
  resolve: {
    alias: {
      '@halfsync/core/worker': src('./packages/core/src/worker.ts'),
      '@halfsync/core/http': src('./packages/core/src/http.ts'),
      '@halfsync/core/workbox': src('./packages/core/src/workbox.ts'),
      '@halfsync/core/testing': src('./packages/core/src/testing/index.ts'),
      '@halfsync/core': src('./packages/core/src/index.ts'),
    },
  },
  build: {
    outDir: src('./e2e/.dist'),
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    rolldownOptions: {
      input: {
        main: src('./e2e/fixture/index.html'), sw: src('./e2e/fixture/sw.ts'),
        // Workers for the adoption specs: one that never calls serve(), one with Workbox routes.
        'sw-without-serve': src('./e2e/fixture/sw-without-serve.ts'), 'sw-workbox': src('./e2e/fixture/sw-workbox.ts'),
      },
      // Service workers at the root, so that their scope is the whole app.
      output: { entryFileNames: (chunk) => (chunk.name.startsWith('sw') ? `${chunk.name}.js` : 'assets/[name]-[hash].js') },
    },
  },
});
