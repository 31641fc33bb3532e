import type { ReactNode } from 'react';
import type { Task } from '@halfsync/core';
import { childrenOf } from './chains.js';
import { badge, s } from './styles.js';

/** Pretty JSON, cut at `max` characters: a payload can be large. */
export function preview(value: unknown, max = 4_000): string {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text;
}

const time = (at: number | undefined) => (at === undefined ? '' : new Date(at).toLocaleTimeString());

function Field({ name, children }: { name: string; children: ReactNode }) {
  return (
    <>
      <dt style={{ color: '#718096' }}>{name}</dt>
      <dd style={{ margin: 0, overflowWrap: 'anywhere' }}>{children}</dd>
    </>
  );
}

/** Props of {@link TaskDetail}. */
export interface TaskDetailProps {
  readonly id: string;
  /** Every task the tab holds, to find this one, its parents and its children. */
  readonly tasks: readonly Task[];
  readonly byId: ReadonlyMap<string, Task>;
  readonly onSelect: (id: string) => void;
  readonly onClose: () => void;
}

/**
 * One task in full: its payload and result, every try (the last ten) with how it ended, its
 * error and when, the last error, its parents (`after`) and children.
 */
export function TaskDetail({ id, tasks, byId, onSelect, onClose }: TaskDetailProps) {
  const task = byId.get(id);
  const link = (t: Task | undefined, tid: string) => (
    <li key={tid}>
      {t ? <button type="button" style={s.link} onClick={() => onSelect(tid)}>{t.name}</button> : <span>{tid}</span>}{' '}
      {t ? <span style={badge(t.status)}>{t.status}</span> : <span style={{ color: '#718096' }}>not held by this tab (finished earlier, or acknowledged)</span>}
    </li>
  );
  return (
    <section aria-label="task detail" data-detail={id} style={s.detail}>
      <div style={{ display: 'flex', gap: 8, alignItems: 'center' }}>
        <strong>{task?.name ?? id}</strong>
        {task && <span style={badge(task.status)}>{task.status}</span>}
        <button type="button" style={{ ...s.button, marginLeft: 'auto' }} onClick={onClose}>close</button>
      </div>
      {!task ? <p>This tab no longer holds task {id} (acknowledged, or purged).</p> : (
        <>
          <dl style={{ display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: '2px 12px', margin: '6px 0' }}>
            <Field name="id">{task.id}</Field>
            <Field name="idempotency key">{task.idempotencyKey}</Field>
            <Field name="deferred">{time(task.createdAt)}</Field>
            <Field name="last change">{time(task.updatedAt)}</Field>
            {task.status === 'pending' && <Field name="may run from">{time(task.nextRunAt)}</Field>}
            <Field name="attempts">{task.attempts} counted{task.unreachable ? `, ${task.unreachable} could not reach the server` : ''}</Field>
            {task.tries.length > 0 && (
              <Field name="tries">
                <ol data-detail-tries="" style={{ margin: 0, paddingLeft: 18 }}>
                  {task.tries.map((t, i) => (
                    <li key={i}>
                      {time(t.at)} <span style={badge(t.outcome === 'succeeded' ? 'succeeded' : t.outcome === 'crashed' || t.outcome === 'permanent' ? 'failed' : 'pending')}>{t.outcome}</span>
                      {t.code ? ` ${t.code}${t.status ? ` (HTTP ${t.status})` : ''}: ${t.message ?? ''}` : ''}
                    </li>
                  ))}
                </ol>
              </Field>
            )}
            {task.lastError && (
              <Field name="last error">
                <span data-detail-error="">{task.lastError.code}: {task.lastError.message}</span>{' '}
                <span style={{ color: '#718096' }}>({task.lastError.kind ?? (task.lastError.permanent ? 'permanent' : 'transient')}, at {time(task.lastError.at)}{task.lastError.status ? `, HTTP ${task.lastError.status}` : ''})</span>
              </Field>
            )}
            {task.owner !== undefined && <Field name="owner">{task.owner}</Field>}
            {task.orderKey !== undefined && <Field name="order key">{task.orderKey}</Field>}
            {task.supersededBy !== undefined && <Field name="replaced by">{link(byId.get(task.supersededBy), task.supersededBy)}</Field>}
          </dl>
          {(task.after?.length ?? 0) > 0 && (
            <div data-detail-parents="">runs after:<ul style={{ margin: '2px 0 6px', paddingLeft: 18 }}>{task.after!.map((p) => link(byId.get(p), p))}</ul></div>
          )}
          {childrenOf(task.id, tasks).length > 0 && (
            <div data-detail-children="">runs before:<ul style={{ margin: '2px 0 6px', paddingLeft: 18 }}>{childrenOf(task.id, tasks).map((c) => link(c, c.id))}</ul></div>
          )}
          <div>payload</div>
          <pre style={s.pre} data-detail-payload="">{preview(task.payload)}</pre>
          {task.result !== undefined && (
            <>
              <div>result</div>
              <pre style={s.pre} data-detail-result="">{preview(task.result)}</pre>
            </>
          )}
        </>
      )}
    </section>
  );
}
