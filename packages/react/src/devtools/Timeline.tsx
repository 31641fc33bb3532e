import { useEffect, useState } from 'react';
import type { HalfsyncClient, Task } from '@halfsync/core';
import { countOf } from './hooks.js';
import { COLORS } from './styles.js';
import { timeline } from './timeline.js';

const HOUR = 3_600_000;
const W = 6;
const DEPTH_H = 36;
const OUT_H = 18;

/** Tasks deferred in the last hour that succeeded or failed, counted in the store (every tab's, the window's and beyond). */
function useHourCounts(client: HalfsyncClient, version: unknown): { succeeded: number; failed: number } | undefined {
  const [counts, setCounts] = useState<{ succeeded: number; failed: number } | undefined>();
  useEffect(() => {
    let live = true;
    const since = Date.now() - HOUR;
    const count = countOf(client);
    if (!count) return;
    Promise.all([count({ status: 'succeeded', since }), count({ status: 'failed', since })])
      .then(([succeeded, failed]) => { if (live) setCounts({ succeeded, failed }); })
      // Unreadable counts leave the caption to the bars alone; the panel's banners say why.
      .catch(() => { if (live) setCounts(undefined); });
    return () => { live = false; };
  }, [client, version]);
  return counts;
}

/** Props of {@link Timeline}. */
export interface TimelineProps {
  readonly client: HalfsyncClient;
  readonly tasks: readonly Task[];
  readonly now: number;
  /** Changes when the store's counts change: the hour's counts are read again then. */
  readonly version: unknown;
}

/**
 * The last hour, a bar a minute: above, the queue's depth (tasks deferred and not finished); below,
 * the outcomes (succeeded up, failed in red). Drawn from the tasks this tab holds; the caption adds
 * the store's own counts for the hour.
 */
export function Timeline({ client, tasks, now, version }: TimelineProps) {
  const minutes = timeline(tasks, now);
  const hour = useHourCounts(client, version);
  const maxDepth = Math.max(1, ...minutes.map((m) => m.depth));
  const maxOut = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed));
  const width = minutes.length * W;
  return (
    <figure style={{ margin: 0, padding: '6px 10px', borderBottom: '1px solid #edf2f7' }} data-timeline="">
      {/* As wide as the panel: the bars stretch sideways only. */}
      <svg width="100%" height={DEPTH_H + OUT_H + 2} viewBox={`0 0 ${width} ${DEPTH_H + OUT_H + 2}`} preserveAspectRatio="none" role="img" aria-label="queue depth and outcomes per minute, last hour" style={{ display: 'block' }}>
        <line x1={0} x2={width} y1={DEPTH_H + 0.5} y2={DEPTH_H + 0.5} stroke="#cbd5e0" vectorEffect="non-scaling-stroke" />
        {minutes.map((m, i) => {
          const d = (m.depth / maxDepth) * (DEPTH_H - 2);
          const ok = (m.succeeded / maxOut) * OUT_H;
          const bad = (m.failed / maxOut) * OUT_H;
          return (
            <g key={m.at} data-minute={i}>
              <title>{`${new Date(m.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${m.depth} queued, ${m.succeeded} succeeded, ${m.failed} failed`}</title>
              <rect x={i * W} y={0} width={W} height={DEPTH_H + OUT_H + 2} fill="transparent" />
              {d > 0 && <rect x={i * W + 1} y={DEPTH_H - d} width={W - 2} height={d} fill={COLORS.pending} />}
              {ok > 0 && <rect x={i * W + 1} y={DEPTH_H + 2} width={W - 2} height={ok} fill={COLORS.succeeded} />}
              {bad > 0 && <rect x={i * W + 1} y={DEPTH_H + 2 + ok} width={W - 2} height={bad} fill={COLORS.failed} />}
            </g>
          );
        })}
      </svg>
      <div style={{ display: 'flex', justifyContent: 'space-between', color: '#a0aec0', fontSize: 10 }}><span>60 min ago</span><span>now</span></div>
      <figcaption style={{ color: '#718096' }}>
        per minute: queued (up to {maxDepth}) above, outcomes below
        {hour && <> · deferred this hour, in the store: <span data-hour-succeeded="">{hour.succeeded}</span> succeeded, <span data-hour-failed="">{hour.failed}</span> failed</>}
      </figcaption>
    </figure>
  );
}
