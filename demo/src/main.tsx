import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createClient } from '@halfsync/core';
import { HalfsyncProvider } from '@halfsync/react';
import { tasks } from './tasks';
import { App } from './App';
import './styles.css';

// One client for the page. In production builds the worker is /sw.js (module, built with the page);
// the dev server has no worker, so there the page runner completes the tasks.
const client = createClient({ tasks, serviceWorker: import.meta.env.PROD ? { url: '/sw.js', type: 'module' } : false });
(window as unknown as { halfsync: typeof client }).halfsync = client;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <HalfsyncProvider client={client}>
      <App />
    </HalfsyncProvider>
  </StrictMode>,
);
