// axe-core on every view, in the light and the dark theme: no serious or
// critical violation (names of controls, contrast, landmarks, ARIA use).

import AxeBuilder from '@axe-core/playwright';
import { test, expect } from '../support/qicoo.js';

async function seeded(qicoo) {
  const { meetup, organizer_key: key } = await qicoo.createMeetup('Accessible meetup', true);
  const token = await qicoo.participant();
  const post = (text) => qicoo.api('POST', `/meetups/${meetup.id}/questions`, { body: { text, author_name: 'Ken' }, auth: token });
  const a = await post('A published question with a like');
  const b = await post('An answered question');
  const c = await post('A highlighted question');
  await post('A question awaiting review');
  for (const q of [a, b, c]) await qicoo.api('POST', `/questions/${q.question.id}/approve`, { auth: key });
  await qicoo.api('PUT', `/questions/${a.question.id}/vote`, { auth: token });
  await qicoo.api('POST', `/questions/${b.question.id}/answer`, { auth: key });
  await qicoo.api('POST', `/questions/${c.question.id}/highlight`, { auth: key });
  return { meetup, key };
}

for (const colorScheme of ['light', 'dark']) {
  test(`every view has no serious or critical accessibility violation in the ${colorScheme} theme`, async ({ browser, qicoo }) => {
    const { meetup, key } = await seeded(qicoo);
    const views = [
      ['landing', '/', 'Join a meetup'],
      ['attendee', `/m/${meetup.code}`, 'Ask a question'],
      ['screen', `/m/${meetup.code}/screen`, 'Now answering'],
      ['organizer', `/m/${meetup.code}/organize#key=${encodeURIComponent(key)}`, 'Moderation queue'],
      ['organizer key form', `/m/${meetup.code}/organize`, 'Organizer key needed'],
      ['not found', '/m/ZZZZZZ', 'No such meetup'],
    ];
    for (const [name, path, heading] of views) {
      const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${qicoo.url}${path}`);
      await expect(page.getByRole('heading', { name: heading })).toBeVisible();
      if (name === 'organizer') await expect(page.getByText('A question awaiting review')).toBeVisible();
      const results = await new AxeBuilder({ page }).analyze();
      const bad = results.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      expect(bad, `${name} in ${colorScheme}`).toEqual([]);
      await context.close();
    }
  });
}
