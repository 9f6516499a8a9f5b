// A moderated meetup: a question is seen only by the organizer's queue and its
// author until approved, then by everyone; highlighting puts it at the top of
// the speaker screen.

import { test, expect } from '../support/qicoo.js';

test('in a moderated meetup a question waits for approval, then shows everywhere, and highlight tops the screen', async ({ browser, qicoo }) => {
  const organizer = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await organizer.goto(`${qicoo.url}/`);
  await organizer.getByRole('textbox', { name: 'Title' }).fill('Moderated night');
  await organizer.getByRole('checkbox', { name: 'Review questions before they are shown' }).check();
  await organizer.getByRole('button', { name: 'Create meetup' }).click();
  await organizer.getByRole('button', { name: 'I have kept it' }).click();
  const code = /\/m\/([A-Z0-9]+)\/organize/.exec(organizer.url())[1];
  await expect(organizer.getByRole('switch', { name: 'Moderation (review questions first)' })).toBeChecked();
  const queue = organizer.getByRole('list', { name: 'Moderation queue' });
  // The queue comes over the organizer's live stream, not by polling.
  await expect(organizer.getByText('Queue is live')).toBeVisible();

  const author = await (await browser.newContext()).newPage();
  const other = await (await browser.newContext()).newPage();
  const screen = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
  await author.goto(`${qicoo.url}/m/${code}`);
  await other.goto(`${qicoo.url}/m/${code}`);
  await screen.goto(`${qicoo.url}/m/${code}/screen`);
  await expect(author.getByText('The organizer reviews questions before they are shown.')).toBeVisible();

  const first = 'Will the slides be shared afterwards?';
  await author.getByRole('textbox', { name: 'Your question' }).fill(first);
  await author.getByRole('button', { name: 'Send question' }).click();
  const own = author.getByRole('listitem').filter({ hasText: first });
  await expect(own.getByText('Awaiting review')).toBeVisible();
  await expect(queue.getByText(first)).toBeVisible();

  // Nobody else sees it: not the other attendee, not the screen, not the public API.
  const meetup = await qicoo.api('GET', `/meetups/${code}`);
  expect(await qicoo.publicQuestions(meetup.id)).toEqual([]);
  await expect(other.getByText('No questions yet. Be the first to ask!')).toBeVisible();
  await expect(other.getByText(first)).toHaveCount(0);
  await expect(screen.getByText(first)).toHaveCount(0);

  await organizer.getByRole('button', { name: `Approve: ${first}` }).click();
  await expect(other.getByRole('listitem').filter({ hasText: first })).toBeVisible();
  await expect(screen.getByRole('list', { name: 'Top questions' }).getByText(first)).toBeVisible();
  await expect(own.getByText('Awaiting review')).toHaveCount(0);
  await expect(queue).toHaveCount(0);

  // A second question, approved from the keyboard, gets more likes than the first.
  const second = 'What is next on the roadmap?';
  await other.getByRole('textbox', { name: 'Your question' }).fill(second);
  await other.getByRole('button', { name: 'Send question' }).click();
  const waiting = queue.getByRole('listitem').filter({ hasText: second });
  await waiting.focus();
  await organizer.keyboard.press('a');
  await expect(screen.getByRole('list', { name: 'Top questions' }).getByText(second)).toBeVisible();
  await author.getByRole('listitem').filter({ hasText: second }).getByRole('button', { name: /^Like this question/ }).click();
  const rows = screen.getByRole('list', { name: 'Top questions' }).getByRole('listitem');
  await expect(rows.first()).toContainText(second);
  await expect(rows.nth(1)).toContainText(first);

  // Highlighting the less-liked one moves it to the top of the screen.
  await organizer.getByRole('button', { name: `Highlight: ${first}` }).click();
  const now = screen.getByRole('region', { name: 'Now answering' });
  await expect(now.getByText(first)).toBeVisible();
  const highlightedBox = await now.getByText(first).boundingBox();
  const secondBox = await rows.filter({ hasText: second }).boundingBox();
  expect(highlightedBox.y).toBeLessThan(secondBox.y);
  await expect(other.getByRole('listitem').filter({ hasText: first }).getByText('Being answered now')).toBeVisible();

  await organizer.getByRole('button', { name: `Unhighlight: ${first}` }).click();
  await expect(now).toHaveCount(0);
});

test('an organizer rejects a question and removes another with a reason', async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Cleanup', true);
  const token = await qicoo.participant();
  const post = (text) => qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text }, auth: token });
  await post('Spam spam spam');
  const kept = await post('A fair question');
  await qicoo.api('POST', `/questions/${kept.question.id}/approve`, { auth: key });

  const organizer = await (await browser.newContext()).newPage();
  // The key arrives in the #fragment (a link for another device): never sent to the server.
  const requests = [];
  organizer.on('request', (r) => requests.push(r.url()));
  await organizer.goto(`${qicoo.url}/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`);
  await expect(organizer.getByRole('heading', { name: 'Settings' })).toBeVisible();
  expect(organizer.url()).not.toContain('key=');
  await organizer.getByRole('button', { name: 'Reject: Spam spam spam' }).click();
  await expect(organizer.getByRole('list', { name: 'Rejected' }).getByText('Spam spam spam')).toBeVisible();
  await organizer.getByRole('button', { name: 'Remove…: A fair question' }).click();
  await organizer.getByRole('textbox', { name: 'Reason for removing (optional)' }).fill('duplicate');
  await organizer.getByRole('button', { name: 'Remove', exact: true }).click();
  await expect(organizer.getByText('No published questions yet.')).toBeVisible();
  expect(await qicoo.publicQuestions(meetup.id)).toEqual([]);
  expect(requests.filter((url) => url.includes(key))).toEqual([]);
});

test('a key pasted on another device organizes the meetup; a wrong one is refused', async ({ page, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Second laptop');
  const other = await qicoo.createMeetup('Someone else’s');
  await page.goto(`${qicoo.url}/m/${meetup.code}/organize`);
  const field = page.getByLabel('Organizer key', { exact: true });
  await field.fill(other.organizer_key);
  await page.getByRole('button', { name: 'Use this key' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'This key does not organize this meetup.' })).toBeVisible();
  await field.fill(key);
  await page.getByRole('button', { name: 'Use this key' }).click();
  await expect(page.getByText('Queue is live')).toBeVisible();
  await page.getByRole('switch', { name: 'Q&A open' }).uncheck();
  await expect.poll(async () => (await qicoo.api('GET', `/meetups/${meetup.id}`)).qa_open).toBe(false);
  await page.reload();
  await expect(page.getByRole('switch', { name: 'Q&A open' })).not.toBeChecked();
});

test('closing Q&A and archiving the meetup tell attendees so at once', async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Closing time');
  const organizer = await (await browser.newContext()).newPage();
  await organizer.goto(`${qicoo.url}/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`);
  const attendee = await (await browser.newContext()).newPage();
  await attendee.goto(`${qicoo.url}/m/${meetup.code}`);
  await expect(attendee.getByRole('button', { name: 'Send question' })).toBeVisible();

  await organizer.getByRole('switch', { name: 'Q&A open' }).uncheck();
  await expect(attendee.getByText('Q&A is closed for now: you can still read and like questions.')).toBeVisible();
  await expect(attendee.getByRole('button', { name: 'Send question' })).toHaveCount(0);

  await organizer.getByRole('button', { name: 'Archive meetup…' }).click();
  await organizer.getByRole('button', { name: 'Cancel' }).click();
  expect((await qicoo.api('GET', `/meetups/${meetup.id}`)).archived).toBe(false);
  await organizer.getByRole('button', { name: 'Archive meetup…' }).click();
  await organizer.getByRole('button', { name: 'Yes, archive' }).click();
  await expect(organizer.getByText('This meetup is archived and read-only.')).toBeVisible();
  await expect(attendee.getByText('This meetup is archived: questions are read-only.')).toBeVisible();
});
