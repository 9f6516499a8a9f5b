// A whole meetup in four browsers: the organizer creates it in the UI, one
// attendee joins by code and asks, another likes, and the speaker screen shows
// the question and then its new count within a second, without a reload.

import { test, expect } from '../support/qicoo.js';

test('an organizer creates a meetup, attendees ask and like, and the screen follows live', async ({ browser, qicoo }) => {
  const organizer = await (await browser.newContext()).newPage();
  await organizer.goto(`${qicoo.url}/`);
  await organizer.getByRole('textbox', { name: 'Title' }).fill('Rust Tokyo #42');
  await organizer.getByRole('button', { name: 'Create meetup' }).click();
  await expect(organizer).toHaveURL(/\/m\/[A-Z0-9]+\/organize$/);
  await expect(organizer.getByRole('heading', { name: 'Keep this organizer key' })).toBeVisible();
  const key = await organizer.getByRole('textbox', { name: 'Organizer key' }).inputValue();
  expect(key).toMatch(/^qo1\./);
  expect(organizer.url()).not.toContain(key);
  await organizer.getByRole('button', { name: 'I have kept it' }).click();
  const code = /\/m\/([A-Z0-9]+)\/organize/.exec(organizer.url())[1];
  await expect(organizer.getByRole('heading', { name: 'Settings' })).toBeVisible();

  const screen = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
  await screen.goto(`${qicoo.url}/m/${code}/screen`);
  await expect(screen.getByRole('heading', { name: 'Rust Tokyo #42' })).toBeVisible();
  await expect(screen.getByText(code, { exact: true })).toBeVisible();
  await expect(screen.getByRole('img', { name: /QR code of http:\/\/.*\/m\// })).toBeVisible();
  await expect(screen.getByRole('status', { name: 'Connection: Live' })).toBeVisible();
  await screen.evaluate(() => {
    window.stillTheSamePage = true;
  });

  const asker = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await asker.goto(`${qicoo.url}/`);
  await asker.getByRole('textbox', { name: 'Join code' }).fill(code.toLowerCase());
  await asker.getByRole('button', { name: 'Join' }).click();
  await expect(asker).toHaveURL(`${qicoo.url}/m/${code}`);
  const text = 'How do you keep compile times down in a large workspace?';
  await asker.getByRole('textbox', { name: 'Your question' }).fill(text);
  await asker.getByRole('textbox', { name: 'Your name (optional)' }).fill('Aiko');
  await expect(asker.getByText(`${text.length} / 1000`)).toBeVisible();
  await asker.getByRole('button', { name: 'Send question' }).click();
  const asked = asker.getByRole('listitem').filter({ hasText: text });
  await expect(asked).toBeVisible();
  await expect(asked.getByText('Your question')).toBeVisible();
  await expect(asked.getByRole('button', { name: 'Like this question (0 likes)' })).toBeVisible();

  const top = screen.getByRole('list', { name: 'Top questions' }).getByRole('listitem').filter({ hasText: text });
  await expect(top).toBeVisible();
  await expect(top.getByText('0', { exact: true })).toBeVisible();

  const liker = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await liker.goto(`${qicoo.url}/m/${code}`);
  const theirs = liker.getByRole('listitem').filter({ hasText: text });
  await expect(theirs.getByText('Aiko')).toBeVisible();
  await theirs.getByRole('button', { name: 'Like this question (0 likes)' }).click();
  await expect(theirs.getByRole('button', { name: 'Remove your like (1 likes)' })).toBeVisible();
  await expect(top.getByText('1', { exact: true })).toBeVisible({ timeout: 1000 });
  expect(await screen.evaluate(() => window.stillTheSamePage)).toBe(true);

  // The like survives a reload: the participant token is kept in the browser.
  await liker.reload();
  await expect(theirs.getByRole('button', { name: 'Remove your like (1 likes)' })).toBeVisible();
  await expect(asked.getByRole('button', { name: 'Like this question (1 likes)' })).toBeVisible();

  // The organizer marks it answered: it moves to the attendees' answered section
  // and leaves the screen's top list.
  await organizer.getByRole('button', { name: `Mark answered: ${text}` }).click();
  await expect(asker.getByRole('list', { name: 'Answered' }).getByText(text)).toBeVisible();
  await expect(top).toHaveCount(0);
});

test('an unknown code shows a clear page, not a blank one', async ({ page, qicoo }) => {
  const response = await page.goto(`${qicoo.url}/m/ZZZZZZ`);
  expect(response.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'No such meetup' })).toBeVisible();
  await expect(page.getByText('There is no meetup with the code ZZZZZZ')).toBeVisible();
  await page.getByRole('link', { name: 'Go to the start page' }).click();
  await expect(page.getByRole('heading', { name: 'Join a meetup' })).toBeVisible();
});

test('an attendee edits and withdraws their own question and sorts by top or recent', async ({ browser, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Own questions');
  const someone = await qicoo.participant();
  const popular = await qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text: 'An older, popular question' }, auth: someone });
  await qicoo.api('PUT', `/questions/${popular.question.id}/vote`, { auth: someone });

  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await page.goto(`${qicoo.url}/m/${meetup.code}`);
  await page.getByRole('textbox', { name: 'Your question' }).fill('Teh typo question');
  await page.getByRole('button', { name: 'Send question' }).click();
  const mine = page.getByRole('listitem').filter({ hasText: 'Your question' });
  await expect(mine).toContainText('Teh typo question');

  const list = page.getByRole('list', { name: 'Questions' }).getByRole('listitem');
  await expect(list.first()).toContainText('An older, popular question');
  await page.getByRole('button', { name: 'Recent' }).click();
  await expect(page.getByRole('button', { name: 'Recent' })).toHaveAttribute('aria-pressed', 'true');
  await expect(list.first()).toContainText('Teh typo question');

  await mine.getByRole('button', { name: 'Edit' }).click();
  await page.getByRole('textbox', { name: 'Edit your question' }).fill('The fixed question');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(mine).toContainText('The fixed question');
  await expect.poll(async () => (await qicoo.publicQuestions(meetup.id)).map((q) => q.text).sort()).toEqual([
    'An older, popular question',
    'The fixed question',
  ]);

  await mine.getByRole('button', { name: 'Withdraw' }).click();
  await page.getByRole('button', { name: 'Yes, withdraw' }).click();
  await expect(page.getByText('The fixed question')).toHaveCount(0);
  await expect.poll(async () => (await qicoo.publicQuestions(meetup.id)).map((q) => q.text)).toEqual(['An older, popular question']);
});
