import 'fake-indexeddb/auto';
import { expect, test } from 'vitest';
import { defineTask, RetryableError } from '@halfsync/core';
import { createTestClient } from '@halfsync/core/testing/node';

let calls = 0;
const charge = defineTask('charge', {
  async run(order: { cents: number }) {
    if (++calls < 3) throw new RetryableError('the payment service is busy');   // twice, then it answers
    return { charged: order.cents };
  },
});

test('a charge is retried until the payment service answers', async () => {
  const t = createTestClient({ tasks: [charge] });
  const h = t.client.defer(charge, { cents: 500 });
  const [task] = await t.settle();   // drains, moves the clock to each retry, drains again
  expect(task).toMatchObject({ id: h.id, status: 'succeeded', attempts: 3, result: { charged: 500 } });
  t.close();
});
