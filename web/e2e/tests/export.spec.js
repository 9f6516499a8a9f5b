// The organizer downloads the meetup's export from the console: an Excel
// workbook and the HTML report (in the console's language, times in the
// browser's zone), each a file named after the meetup, holding its questions.

import { readFile } from 'node:fs/promises';
import { test, expect } from '../support/qicoo.js';

test('the organizer downloads the workbook and the report from the console', async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Export night');
  const token = await qicoo.participant();
  const asked = 'Where can I find the recording?';
  const { question } = await qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text: asked }, auth: token });
  await qicoo.api('PUT', `/questions/${question.id}/vote`, { auth: token });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'Asia/Tokyo' });
  const page = await context.newPage();
  await page.goto(`${qicoo.url}/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`);
  await expect(page.getByRole('heading', { name: 'Export', exact: true })).toBeVisible();

  const [workbook] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Excel workbook (.xlsx)' }).click(),
  ]);
  expect(workbook.suggestedFilename()).toMatch(new RegExp(`^qicoo-${meetup.code}-export-\\d+\\.xlsx$`));
  const xlsx = await readFile(await workbook.path());
  expect(xlsx.subarray(0, 2).toString()).toBe('PK'); // a zip, as every .xlsx is
  await expect(page.getByRole('status').filter({ hasText: workbook.suggestedFilename() })).toBeVisible();

  const [report] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Report (.html)' }).click(),
  ]);
  expect(report.suggestedFilename()).toMatch(/\.html$/);
  const html = (await readFile(await report.path())).toString('utf8');
  expect(html).toContain(asked);
  expect(html).toContain('lang="en"');
  expect(html).toContain('+09:00');

  // The same console in Japanese offers the same, and the report follows it.
  await page.getByRole('combobox', { name: 'Language' }).selectOption('ja');
  const [japanese] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'レポート (.html)' }).click(),
  ]);
  expect((await readFile(await japanese.path())).toString('utf8')).toContain('lang="ja"');
  await context.close();
});

test("the organizer reads a question's history: what happened, when, and by whom", async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('History night');
  const author = await qicoo.participant();
  const liker = await qicoo.participant();
  const asked = 'Is the venue wheelchair accessible?';
  const { question } = await qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text: asked }, auth: author });
  await qicoo.api('PUT', `/questions/${question.id}/vote`, { auth: liker });
  await qicoo.api('DELETE', `/questions/${question.id}/vote`, { auth: liker });
  await qicoo.api('POST', `/questions/${question.id}/answer`, { auth: key });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(`${qicoo.url}/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`);
  const toggle = page.getByRole('button', { name: `History of: ${asked}` });
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  const history = page.getByRole('list', { name: `History of: ${asked}` });
  const items = history.getByRole('listitem');
  await expect(items).toHaveCount(4);
  await expect(items.nth(0)).toContainText('Posted');
  await expect(items.nth(0)).toContainText(/Participant [0-9a-f]{10}/);
  await expect(items.nth(1)).toContainText('Liked');
  await expect(items.nth(2)).toContainText('Like taken back');
  await expect(items.nth(3)).toContainText('Marked answered');
  await expect(items.nth(3)).toContainText('Organizer');
  // The liker is the same pseudonym twice, and not the author's.
  const who = async (n) => /Participant ([0-9a-f]{10})/.exec(await items.nth(n).innerText())[1];
  expect(await who(1)).toBe(await who(2));
  expect(await who(1)).not.toBe(await who(0));
  await toggle.click();
  await expect(history).toHaveCount(0);
  await context.close();
});
