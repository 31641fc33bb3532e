import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { HalfsyncProvider } from '@halfsync/react';
import { client } from './client';
import { App } from './App';
import './styles.css';

(window as unknown as { halfsync: typeof client }).halfsync = client;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <HalfsyncProvider client={client}>
      <App />
    </HalfsyncProvider>
  </StrictMode>,
);
