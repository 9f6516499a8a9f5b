// The interface speaks the browser's language (Japanese or English), can be
// switched, and remembers the switch.

import { test, expect } from '../support/qicoo.js';

test('a Japanese browser gets the Japanese interface and an English one English', async ({ browser, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Tokyo.rs');

  const ja = await (await browser.newContext({ locale: 'ja-JP' })).newPage();
  await ja.goto(`${qicoo.url}/`);
  await expect(ja.getByRole('heading', { name: 'ミートアップに参加' })).toBeVisible();
  await expect(ja.getByRole('button', { name: 'ミートアップを作成' })).toBeVisible();
  await expect(ja.locator('html')).toHaveAttribute('lang', 'ja');
  await ja.goto(`${qicoo.url}/m/${meetup.code}`);
  await expect(ja.getByRole('heading', { name: '質問する' })).toBeVisible();
  await expect(ja.getByRole('button', { name: '質問を送信' })).toBeVisible();
  await expect(ja.getByRole('group', { name: '質問の並び順' })).toBeVisible();

  const en = await (await browser.newContext({ locale: 'en-US' })).newPage();
  await en.goto(`${qicoo.url}/`);
  await expect(en.getByRole('heading', { name: 'Join a meetup' })).toBeVisible();
  await expect(en.locator('html')).toHaveAttribute('lang', 'en');
  await en.goto(`${qicoo.url}/m/${meetup.code}/screen`);
  await expect(en.getByText('Top questions', { exact: true }).first()).toBeVisible();

  // The switch changes every string at once and is remembered.
  await en.getByRole('combobox', { name: 'Language' }).selectOption('ja');
  await expect(en.getByText('人気の質問', { exact: true }).first()).toBeVisible();
  await expect(en.getByRole('combobox', { name: '言語' })).toBeVisible();
  await en.reload();
  await expect(en.getByText('人気の質問', { exact: true }).first()).toBeVisible();
});

test('question times are shown in the viewer locale and time zone', async ({ browser, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Times');
  const token = await qicoo.participant();
  await qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text: 'When?' }, auth: token });
  const [question] = await qicoo.publicQuestions(meetup.id);
  for (const [locale, timezoneId] of [['ja-JP', 'Asia/Tokyo'], ['en-US', 'America/New_York']]) {
    const page = await (await browser.newContext({ locale, timezoneId })).newPage();
    await page.goto(`${qicoo.url}/m/${meetup.code}`);
    const expected = await page.evaluate(
      ([iso, lang]) => new Intl.DateTimeFormat(lang, { timeStyle: 'short' }).format(new Date(iso)),
      [question.created_at, locale.slice(0, 2)],
    );
    const shown = page.getByRole('listitem').filter({ hasText: 'When?' }).locator('time');
    await expect(shown).toHaveText(expected);
    await expect(shown).toHaveAttribute('datetime', question.created_at);
  }
});

test('the English and Japanese tables have the same strings', async ({ page, qicoo }) => {
  await page.goto(`${qicoo.url}/`);
  const [en, ja] = await page.evaluate(async () => {
    const i18n = await import('/assets/i18n.js');
    return ['en', 'ja'].map((lang) => i18n.keys(lang));
  });
  expect(en.length).toBeGreaterThan(100);
  expect([...ja].sort()).toEqual([...en].sort());
});

test('the Enter that confirms a Japanese conversion never sends the question', async ({ page, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('IME');
  await page.goto(`${qicoo.url}/m/${meetup.code}`);
  const box = page.getByRole('textbox', { name: 'Your question' });
  await box.fill('変換中の質問');
  const press = (options) =>
    box.evaluate((el, init) => el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true, ...init })), options);
  // Ctrl+Enter sends, except while an IME is composing (isComposing, or keyCode 229 in older engines).
  await press({ ctrlKey: true, isComposing: true });
  await press({ ctrlKey: true, keyCode: 229 });
  await expect(box).toHaveValue('変換中の質問');
  expect(await qicoo.publicQuestions(meetup.id)).toEqual([]);
  await press({ ctrlKey: true });
  await expect(box).toHaveValue('');
  await expect.poll(async () => (await qicoo.publicQuestions(meetup.id)).map((q) => q.text)).toEqual(['変換中の質問']);
});
