// Server rendering: importing the binding touches no browser global, and hooks render the
// empty server snapshot.
import { describe, expect, it } from 'vitest';
import { renderToString } from 'react-dom/server';
import { createClient, defineTask } from '@halfsync/core';
import { HalfsyncProvider, useDeferredAction, useDeferredQueue } from '@halfsync/react';
import { HalfsyncDevtools } from '@halfsync/react/devtools';

const note = defineTask('note', { run: (p: { text: string }) => p.text });

function Notes() {
  const action = useDeferredAction(note);
  const queue = useDeferredQueue();
  return <p>{`${action.optimistic.length} optimistic, ${queue.length} queued, ${action.pendingCount} pending`}</p>;
}

describe('server rendering', () => {
  it('renders the empty server snapshot without window or IndexedDB', () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const client = createClient({ tasks: [note], persistStorage: false });
    const html = renderToString(<HalfsyncProvider client={client}><Notes /><HalfsyncDevtools /></HalfsyncProvider>);
    expect(html).toContain('0 optimistic, 0 queued, 0 pending');
    expect(html).toContain('halfsync queue');
    client.close();
  });

  it('says what to do when a hook has no provider', () => {
    expect(() => renderToString(<Notes />)).toThrow(/HalfsyncProvider/);
  });
});
