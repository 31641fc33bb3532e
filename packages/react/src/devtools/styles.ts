import type { CSSProperties } from 'react';
import type { TaskStatus } from '@halfsync/core';

// The panel styles itself inline: an app imports no CSS for it, and its own styles cannot leak in
// through class names.

/** One colour per status, for badges and the timeline. */
export const COLORS: Record<TaskStatus, string> = {
  pending: '#b7791f', running: '#2b6cb0', succeeded: '#2f855a', failed: '#c53030', cancelled: '#718096', superseded: '#718096',
};

const cell: CSSProperties = { padding: '4px 8px', borderTop: '1px solid #edf2f7', textAlign: 'left', verticalAlign: 'top', whiteSpace: 'nowrap' };

export const s = {
  panel: { font: '12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace', color: '#1a202c', background: '#fff', border: '1px solid #cbd5e0', borderRadius: 8, boxShadow: '0 4px 16px rgba(0,0,0,.12)', overflow: 'hidden', maxWidth: '100%', boxSizing: 'border-box' },
  head: { display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: 8, padding: '6px 10px', background: '#1a202c', color: '#fff' },
  bar: { display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: 8, padding: '6px 10px', borderBottom: '1px solid #edf2f7', background: '#f7fafc' },
  // The table scrolls inside the panel, both ways, so no column pushes the actions out of view.
  scroller: { overflow: 'auto', maxHeight: 420, maxWidth: '100%' },
  table: { borderCollapse: 'separate', borderSpacing: 0, width: '100%' },
  cell,
  th: { ...cell, borderTop: 0, position: 'sticky', top: 0, background: '#fff', zIndex: 1 },
  // The actions column comes first and stays put while the table scrolls sideways.
  actions: { ...cell, position: 'sticky', left: 0, background: '#fff', zIndex: 1 },
  thActions: { ...cell, borderTop: 0, position: 'sticky', top: 0, left: 0, background: '#fff', zIndex: 2 },
  error: { ...cell, color: '#c53030', whiteSpace: 'normal', minWidth: 180, maxWidth: 320, overflowWrap: 'anywhere' },
  clamp: { display: '-webkit-box', WebkitLineClamp: 2, WebkitBoxOrient: 'vertical', overflow: 'hidden' },
  quiet: { ...cell, color: '#718096', whiteSpace: 'normal', minWidth: 120, maxWidth: 320, overflowWrap: 'anywhere' },
  button: { font: 'inherit', fontSize: 11, padding: '1px 6px', marginRight: 4, border: '1px solid #a0aec0', borderRadius: 4, background: '#f7fafc', color: '#1a202c', cursor: 'pointer' },
  link: { font: 'inherit', padding: 0, border: 0, background: 'none', color: '#2b6cb0', textDecoration: 'underline', cursor: 'pointer', textAlign: 'left' },
  headButton: { font: 'inherit', fontSize: 11, padding: '1px 6px', border: '1px solid #4a5568', borderRadius: 4, background: '#2d3748', color: '#fff', cursor: 'pointer' },
  input: { font: 'inherit', fontSize: 11, padding: '1px 4px', border: '1px solid #cbd5e0', borderRadius: 4, background: '#fff', color: '#1a202c' },
  detail: { padding: '8px 10px', borderTop: '1px solid #cbd5e0', background: '#fbfdff' },
  pre: { margin: '2px 0 6px', padding: 6, background: '#f7fafc', border: '1px solid #edf2f7', borderRadius: 4, maxHeight: 160, overflow: 'auto', whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' },
} satisfies Record<string, CSSProperties>;

/** A status badge. */
export const badge = (status: TaskStatus): CSSProperties => ({ display: 'inline-block', padding: '0 6px', borderRadius: 10, color: '#fff', background: COLORS[status] });
