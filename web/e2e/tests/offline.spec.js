// Nothing typed is lost: an attendee who loses the network posts and likes
// anyway; both wait in the outbox, shown as pending, and arrive exactly once
// when the network returns, even when the first attempt reached the server but
// its answer was lost on the way back.

import { test, expect } from '../support/qicoo.js';

test('an attendee offline posts and likes, and exactly one question and one like arrive once back', async ({ browser, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Flaky Wi-Fi');
  const someone = await qicoo.participant();
  const posted = await qicoo.api('POST', `/meetups/${meetup.id}/questions`, {
    body: { text: 'Is the venue Wi-Fi always like this?' },
    auth: someone,
  });

  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  let offline = false;
  const sockets = [];
  await page.routeWebSocket(/\/live/, (ws) => {
    if (offline) {
      ws.close({ code: 1006 });
      return;
    }
    ws.connectToServer();
    sockets.push(ws);
  });
  // While offline every API call fails; once back, the first post and the first
  // like reach the server but their answers are lost, so the page must retry.
  const lostOnce = new Set();
  await page.route('**/api/v1/**', async (route) => {
    if (offline) return route.abort('internetdisconnected');
    const request = route.request();
    const kind = request.method() === 'POST' && request.url().endsWith('/questions') ? 'post'
      : request.method() === 'PUT' && request.url().endsWith('/vote') ? 'like' : null;
    if (kind && !lostOnce.has(kind)) {
      lostOnce.add(kind);
      await route.fetch();
      return route.abort('connectionreset');
    }
    return route.continue();
  });

  await page.goto(`${qicoo.url}/m/${meetup.code}`);
  await expect(page.getByRole('status', { name: 'Connection: Live' })).toBeVisible();
  const existing = page.getByRole('listitem').filter({ hasText: posted.question.text });
  await expect(existing).toBeVisible();

  offline = true;
  await context.setOffline(true);
  for (const ws of sockets) await ws.close({ code: 1006 });
  await expect(page.getByRole('status', { name: /^Connection: Offline/ })).toBeVisible();

  const mine = 'Can you repeat the last slide?';
  await page.getByRole('textbox', { name: 'Your question' }).fill(mine);
  await page.getByRole('button', { name: 'Send question' }).click();
  await existing.getByRole('button', { name: 'Like this question (0 likes)' }).click();
  const pending = page.getByRole('listitem').filter({ hasText: mine });
  await expect(pending.getByText('Waiting to send…')).toBeVisible();
  await expect(existing.getByRole('button', { name: 'Remove your like (1 likes)' })).toBeVisible();
  await expect(page.getByText('2 waiting to send')).toBeVisible();

  offline = false;
  await context.setOffline(false);

  await expect(page.getByRole('status', { name: 'Connection: Live' })).toBeVisible({ timeout: 15_000 });
  await expect(pending.getByText('Waiting to send…')).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByText(/waiting to send/)).toHaveCount(0);
  await expect(existing.getByRole('button', { name: 'Remove your like (1 likes)' })).toBeVisible();
  expect([...lostOnce].sort()).toEqual(['like', 'post']);

  await expect
    .poll(async () => (await qicoo.publicQuestions(meetup.id)).map((q) => [q.text, q.likes]), { timeout: 10_000 })
    .toEqual([
      [posted.question.text, 1],
      [mine, 0],
    ]);
  await expect(page.getByRole('listitem').filter({ hasText: mine })).toHaveCount(1);
});

test('a question waiting in the outbox survives a reload and is sent once the server answers', async ({ page, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Reload me');
  let blocked = false;
  await page.route('**/api/v1/meetups/*/questions', (route) =>
    blocked && route.request().method() === 'POST' ? route.abort('internetdisconnected') : route.continue(),
  );
  await page.goto(`${qicoo.url}/m/${meetup.code}`);
  await expect(page.getByRole('status', { name: 'Connection: Live' })).toBeVisible();
  blocked = true;
  const text = 'Typed on a train';
  await page.getByRole('textbox', { name: 'Your question' }).fill(text);
  await page.getByRole('button', { name: 'Send question' }).click();
  await expect(page.getByRole('listitem').filter({ hasText: text }).getByText('Waiting to send…')).toBeVisible();

  await page.reload();
  await expect(page.getByRole('listitem').filter({ hasText: text }).getByText('Waiting to send…')).toBeVisible();
  blocked = false;
  await expect(page.getByRole('listitem').filter({ hasText: text }).getByText('Waiting to send…')).toHaveCount(0, {
    timeout: 15_000,
  });
  await expect.poll(async () => (await qicoo.publicQuestions(meetup.id)).map((q) => q.text)).toEqual([text]);
});
