// The demo: the shop page, one service worker (Workbox precaching + halfsync, built by
// vite-plugin-pwa's injectManifest) and the backend, all served by one Vite process on 127.0.0.1.
import { defineConfig, runnerImport, type InlineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { fileURLToPath } from 'node:url';
import type * as Backend from './server/backend.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const port = Number(process.env.PORT ?? 5173);
// The demo runs on the workspace's sources, so it needs no build of the packages first.
const alias = {
  '@halfsync/core/worker': here('../packages/core/src/worker.ts'),
  '@halfsync/core/http': here('../packages/core/src/http.ts'),
  '@halfsync/core': here('../packages/core/src/index.ts'),
  '@halfsync/react/devtools': here('../packages/react/src/devtools/index.tsx'),
  '@halfsync/react': here('../packages/react/src/index.ts'),
};
// The backend runs in Node, on the workspace's sources too: loaded through Vite's module runner, which applies these
// aliases (a config file's own imports are resolved by Node, which would need @halfsync/server built first).
const serverAlias = {
  '@halfsync/server/sqlite': here('../packages/server/src/stores/sqlite.ts'),
  '@halfsync/server/node': here('../packages/server/src/adapters/node.ts'),
  '@halfsync/server': here('../packages/server/src/index.ts'),
};
const { module: backend } = await runnerImport<typeof Backend>(here('./server/backend.ts'), {
  configFile: false,
  logLevel: 'error',
  resolve: { alias: serverAlias },
});

/**
 * The worker's own build, as vite-plugin-pwa sets it up: one file with no chunks, asked for with
 * Rolldown's `codeSplitting: false` (the plugin still passes the deprecated `inlineDynamicImports`).
 * Its file list is left out of the log: the plugin writes `sw.mjs` and renames it to `sw.js`, the
 * name it then reports.
 */
function workerBuild(config: InlineConfig): void {
  const output = config.build?.rolldownOptions?.output ?? config.build?.rollupOptions?.output;
  if (output && !Array.isArray(output)) {
    delete (output as { inlineDynamicImports?: boolean }).inlineDynamicImports;
    output.codeSplitting = false;
  }
  config.logLevel = 'warn';
}

export default defineConfig({
  root: here('.'),
  resolve: { alias },
  plugins: [
    react(),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      injectRegister: false,
      manifest: false,
      injectManifest: { rollupFormat: 'es', globPatterns: ['**/*.{js,css,html,svg}'], buildPlugins: { vite: [{ name: 'halfsync-alias', config: () => ({ resolve: { alias } }) }] } },
      devOptions: { enabled: false },
      integration: { configureCustomSWViteBuild: workerBuild },
    }),
    backend.backendPlugin({
      reset: process.env.HALFSYNC_DEMO_RESET === '1',
      file: process.env.HALFSYNC_DEMO_DB || undefined,
      slowMs: process.env.HALFSYNC_DEMO_SLOW_MS ? Number(process.env.HALFSYNC_DEMO_SLOW_MS) : undefined,
    }),
  ],
  server: { host: '127.0.0.1', port, strictPort: true },
  preview: { host: '127.0.0.1', port, strictPort: true },
  build: { outDir: here('./dist'), emptyOutDir: true, target: 'es2022' },
});
