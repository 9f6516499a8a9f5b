// Screenshots of the three views at phone (390×844) and projector (1920×1080,
// and 1280×720) sizes, in target/screenshots/. With QICOO_DOCS_SCREENSHOTS=1 they are also
// written to docs/, where the README shows them.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, expect } from '../support/qicoo.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// The 1280×720 projector goes to target/ only, as a check that the screen fits it too.
const SIZES = {
  phone: { viewport: { width: 390, height: 844 }, docs: true },
  projector: { viewport: { width: 1920, height: 1080 }, docs: true },
  'projector-720p': { viewport: { width: 1280, height: 720 }, docs: false },
};

test('the three views are captured at phone and projector sizes', async ({ browser, qicoo }) => {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Rust Tokyo #42', true);
  const ask = async (text, author_name, likes) => {
    const posted = await qicoo.api('POST', `/meetups/${meetup.id}/questions`, {
      body: { text, author_name },
      auth: await qicoo.participant(),
    });
    await qicoo.api('POST', `/questions/${posted.question.id}/approve`, { auth: key });
    for (let i = 0; i < likes; i += 1) {
      await qicoo.api('PUT', `/questions/${posted.question.id}/vote`, { auth: await qicoo.participant() });
    }
    return posted.question;
  };
  const highlighted = await ask('How does Qicoo stay consistent when two organizers moderate at once?', 'Aiko', 5);
  await ask('What does the event store look like on disk?', 'Ken', 9);
  await ask('Will the recording be online?', null, 3);
  await ask('Which Postgres version do you test against?', 'Mia', 1);
  const answered = await ask('Is the code open source?', 'Sam', 2);
  await qicoo.api('POST', `/questions/${highlighted.id}/highlight`, { auth: key });
  await qicoo.api('POST', `/questions/${answered.id}/answer`, { auth: key });
  await qicoo.api('POST', `/meetups/${meetup.id}/questions`, {
    body: { text: 'Can I use it for a 500-person conference?', author_name: 'Yui' },
    auth: await qicoo.participant(),
  });

  const targetDir = path.join(ROOT, 'target/screenshots');
  const docsDir = process.env.QICOO_DOCS_SCREENSHOTS === '1' ? path.join(ROOT, 'docs') : null;
  mkdirSync(targetDir, { recursive: true });
  if (docsDir) mkdirSync(docsDir, { recursive: true });

  const views = [
    ['attendee', `/m/${meetup.code}`, 'Ask a question'],
    ['screen', `/m/${meetup.code}/screen`, 'Now answering'],
    ['organizer', `/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`, 'Moderation queue'],
  ];
  for (const [name, route, heading] of views) {
    for (const [size, { viewport, docs }] of Object.entries(SIZES)) {
      const context = await browser.newContext({ viewport, locale: 'en-US' });
      const page = await context.newPage();
      await page.goto(`${qicoo.url}${route}`);
      await expect(page.getByRole('heading', { name: heading })).toBeVisible();
      await expect(page.getByText('What does the event store look like on disk?').first()).toBeVisible();
      await expect(page.getByRole('status', { name: 'Connection: Live' })).toBeVisible();
      await page.evaluate(() => document.fonts.ready);
      const dirs = docs && docsDir ? [targetDir, docsDir] : [targetDir];
      for (const dir of dirs) await page.screenshot({ path: path.join(dir, `${name}-${size}.png`) });
      await context.close();
    }
  }
});
