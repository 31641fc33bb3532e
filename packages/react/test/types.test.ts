// Type-level checks (run by the type checker and by Vitest): inputs and results flow from the
// task definition into the hooks, and public types hold no `any`.
import { describe, expectTypeOf, it } from 'vitest';
import { defineTask, type DeferHandle, type Task, type HalfsyncClient } from '@halfsync/core';
import type { DeferredAction, RunResult } from '@halfsync/react';
import type { useDeferredAction } from '@halfsync/react';

const charge = defineTask('charge', { run: (p: { cents: number }) => ({ receipt: `r-${p.cents}` }) });

describe('types', () => {
  it('infers the payload and the result from the task definition', () => {
    type Action = ReturnType<typeof useDeferredAction<{ cents: number }, { receipt: string }, { amount: string }, string>>;
    expectTypeOf<Action>().toEqualTypeOf<DeferredAction<{ amount: string }, { cents: number }, { receipt: string }, string>>();
    expectTypeOf<Action['run']>().parameter(0).toEqualTypeOf<{ amount: string }>();
    expectTypeOf<ReturnType<Action['run']>>().toEqualTypeOf<RunResult<{ receipt: string }, { cents: number }>>();
    expectTypeOf<Action['tasks'][number]>().toEqualTypeOf<Task<{ cents: number }, { receipt: string }>>();
  });

  it('types defer and its handle from the definition', () => {
    type Defer = (client: HalfsyncClient) => ReturnType<typeof client.defer<{ cents: number }, { receipt: string }>>;
    expectTypeOf<ReturnType<Defer>>().toEqualTypeOf<DeferHandle<{ receipt: string }, { cents: number }>>();
    expectTypeOf<Awaited<ReturnType<Defer>['persisted']>>().toEqualTypeOf<Task<{ cents: number }, { receipt: string }>>();
    expectTypeOf(charge.options.run).parameter(0).toEqualTypeOf<{ cents: number }>();
    // A wrong payload is a compile error.
    // @ts-expect-error -- cents must be a number
    const wrong = (c: HalfsyncClient) => c.defer(charge, { cents: 'ten' });
    expectTypeOf(wrong).toBeFunction();
  });
});
