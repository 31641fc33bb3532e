// Builds the bench app (bench/app): the page and its module service worker, in one build,
// served by bench/server.mjs. Production mode, so workbox runs without its development logging;
// not minified, so CPU profiles (npm run bench -- --profile) keep the source's function names.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./app'),
  logLevel: 'warn',
  mode: 'production',
  resolve: {
    alias: {
      '@halfsync/core/worker': here('../packages/core/src/worker.ts'),
      '@halfsync/core/http': here('../packages/core/src/http.ts'),
      '@halfsync/core': here('../packages/core/src/index.ts'),
      '@halfsync/react': here('../packages/react/src/index.ts'),
    },
  },
  build: {
    outDir: here('./.dist/app'),
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    rolldownOptions: {
      input: { main: here('./app/index.html'), sw: here('./app/sw.ts') },
      output: { entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js') },
    },
  },
});
