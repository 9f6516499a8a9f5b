// User text is text: a question, a name and a title made of HTML show as the
// characters typed on all three views, and no element or script comes of them.

import { test, expect } from '../support/qicoo.js';

const PAYLOAD = '<img src=x onerror=alert(1)>';

test('a question made of HTML shows as text on the attendee view, the screen and the console, within their CSP', async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('<b>Bold</b> <script>alert(2)</script>');
  const token = await qicoo.participant();
  await qicoo.api('POST', `/meetups/${meetup.id}/questions`, {
    body: { text: PAYLOAD, author_name: '<i>Mallory</i>' },
    auth: token,
  });

  const views = [
    { path: `/m/${meetup.code}`, viewport: { width: 390, height: 844 } },
    { path: `/m/${meetup.code}/screen`, viewport: { width: 1920, height: 1080 } },
    { path: `/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`, viewport: { width: 1280, height: 900 } },
  ];
  for (const { path, viewport } of views) {
    const page = await (await browser.newContext({ viewport })).newPage();
    const dialogs = [];
    const refused = [];
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) refused.push(message.text());
    });
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
    await page.goto(`${qicoo.url}${path}`);
    await expect(page.getByText(PAYLOAD, { exact: true })).toBeVisible();
    await expect(page.getByText('<b>Bold</b> <script>alert(2)</script>').first()).toBeVisible();
    if (!path.endsWith('/screen')) await expect(page.getByText('<i>Mallory</i>', { exact: true })).toBeVisible();
    expect(await page.locator('img[src="x"], b, i, #app script').count(), path).toBe(0);
    expect(dialogs, path).toEqual([]);
    // The page itself works within its CSP (no inline script or style anywhere).
    expect(refused, path).toEqual([]);
  }
});
