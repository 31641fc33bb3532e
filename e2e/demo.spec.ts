// The demo shop, as a newcomer runs it: checkout offline, a failing and a rejecting backend, and
// the app shell offline. Driven through the UI, checked against the shop's real backend.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';

const DEMO = 'http://127.0.0.1:5310';
test.use({ baseURL: DEMO });

const api = async <T>(path: string, body?: unknown): Promise<T> => {
  const res = await fetch(`${DEMO}/api${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json() as Promise<T>;
};
const rowsFor = async (orderNumber: string) => {
  const lists = await Promise.all(['/orders', '/labels', '/emails', '/stats'].map((p) => api<{ items: Array<{ orderNumber: string }> }>(p)));
  return lists.map((l) => l.items.filter((x) => x.orderNumber === orderNumber).length);
};

test.beforeEach(async () => {
  await api('/reset', {});
  await api('/behaviour', { mode: 'healthy' });
});

/** A first visit and a reload: the worker now controls the page and has precached the shell. */
async function visit(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('mode')).toHaveText('runner: sync');
  await page.reload();
  await expect(page.getByTestId('mode')).toHaveText('runner: sync');
  return halfsyncKit(page);
}

const pay = async (page: Page): Promise<string> => {
  await page.getByRole('button', { name: /^Pay/ }).click();
  return (await page.getByTestId('order-number').textContent())!;
};

test('checkout offline confirms at once; after a reload and going online the backend has the order, label, email and statistics once', async ({ page }) => {
  const hs = await visit(page);
  await hs.offline();
  const orderNumber = await pay(page);
  expect(orderNumber).toMatch(/^HS-[A-Z0-9]{6}$/);
  await expect(page.getByText(`Order ${orderNumber} is placed`)).toBeVisible();
  await expect(page.locator('.chip[data-status="pending"]')).toHaveCount(4);
  await page.reload();
  await expect(page.getByRole('heading', { name: /halfsync shop/ })).toBeVisible();
  await expect(page.locator('tr[data-status="pending"]')).toHaveCount(4);
  expect(await rowsFor(orderNumber)).toEqual([0, 0, 0, 0]);
  await hs.online();
  const done = await hs.waitForIdle({ timeoutMs: 20_000 });
  expect(done.map((t) => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  expect(await rowsFor(orderNumber)).toEqual([1, 1, 1, 1]);
  await page.getByRole('button', { name: 'Orders' }).click();
  await expect(page.locator(`tr[data-order="${orderNumber}"]`)).toHaveAttribute('data-status', 'confirmed');
  await page.getByRole('button', { name: 'Sent mail' }).click();
  await expect(page.locator(`article[data-order="${orderNumber}"]`)).toContainText(`Your order ${orderNumber}`);
});

test('with the backend failing, the queue panel shows the retries, and the order completes once when it recovers', async ({ page }) => {
  const hs = await visit(page);
  await api('/behaviour', { mode: 'failing' });
  const orderNumber = await pay(page);
  const orderRow = page.locator('tr[data-task-id]').filter({ hasText: 'submit-order' });
  await expect(orderRow).toContainText('HTTP_500', { timeout: 15_000 });
  await expect.poll(async () => Number(await orderRow.locator('td').nth(2).textContent()), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
  await api('/behaviour', { mode: 'healthy' });
  await hs.waitForIdle({ timeoutMs: 60_000 });
  expect(await rowsFor(orderNumber)).toEqual([1, 1, 1, 1]);
  await expect(page.locator('.chip[data-status="succeeded"]')).toHaveCount(4);
});

test('with the backend rejecting, the order fails and the orders page shows it rolled back', async ({ page }) => {
  await visit(page);
  await api('/behaviour', { mode: 'rejecting' });
  const orderNumber = await pay(page);
  await expect(page.locator('.chip[data-task="Submit order"]')).toHaveAttribute('data-status', 'failed');
  await page.getByRole('button', { name: 'Orders' }).click();
  const row = page.locator(`tr[data-order="${orderNumber}"]`);
  await expect(row).toHaveAttribute('data-status', 'failed');
  await expect(row).toContainText('failed — payment reversed');
  expect((await rowsFor(orderNumber))[0]).toBe(0);
  // Retry once the backend accepts again: the same order goes through.
  await api('/behaviour', { mode: 'healthy' });
  await row.getByRole('button', { name: 'retry' }).click();
  await expect(row).toHaveAttribute('data-status', 'confirmed', { timeout: 15_000 });
});

test('the app shell loads offline after a first visit', async ({ page }) => {
  const hs = await visit(page);
  await hs.offline();
  await page.reload();
  await expect(page.getByRole('heading', { name: /halfsync shop/ })).toBeVisible();
  await expect(page.getByRole('article')).toHaveCount(4);
  // Really offline: the backend cannot be reached from the page.
  expect(await page.evaluate(() => fetch('/api/behaviour', { cache: 'no-store' }).then(() => 'reached', () => 'unreachable'))).toBe('unreachable');
  await hs.online();
});
