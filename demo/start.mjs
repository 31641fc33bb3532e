// `npm run demo`: builds the shop (page + service worker) and serves it with its backend on
// 127.0.0.1. PORT picks the port (default 5173); `-- --reset` clears the shop's database first.
import { build, preview } from 'vite';
import { fileURLToPath } from 'node:url';

const configFile = fileURLToPath(new URL('./vite.config.ts', import.meta.url));
if (process.argv.includes('--reset')) process.env.HALFSYNC_DEMO_RESET = '1';
process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING ??= 'true';

await build({ configFile, logLevel: 'warn' });
const server = await preview({ configFile });
const url = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${process.env.PORT ?? 5173}/`;
console.log(`\n  halfsync shop demo: ${url}\n  (backend on ${url}api/, data in demo/data/${process.env.HALFSYNC_DEMO_RESET ? ', reset' : ''})\n  Ctrl+C to stop.\n`);
