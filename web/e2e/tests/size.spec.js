// The attendee view's first load, in a fresh browser, transfers at most
// 100 KiB (compressed, with headers): everything the page fetches, measured by
// the browser's own resource timing. The figure goes to target/web-size.json
// for BENCHMARKS.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, expect } from '../support/qicoo.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BUDGET = 100 * 1024;

test('the attendee view first loads in at most 100 KiB transferred', async ({ page, qicoo }) => {
  const { meetup } = await qicoo.createMeetup('Small and fast');
  await page.goto(`${qicoo.url}/m/${meetup.code}`);
  await expect(page.getByRole('status', { name: 'Connection: Live' })).toBeVisible();
  await expect(page.getByText('No questions yet. Be the first to ask!')).toBeVisible();
  const entries = await page.evaluate(() =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => ({
      url: e.name,
      transfer: e.transferSize,
      body: e.decodedBodySize,
    })),
  );
  const transferred = entries.reduce((sum, e) => sum + e.transfer, 0);
  const decoded = entries.reduce((sum, e) => sum + e.body, 0);
  // Every asset arrived over the network (a zero would mean the figure misses it).
  expect(entries.filter((e) => e.url.includes('/assets/') && e.transfer === 0)).toEqual([]);
  mkdirSync(path.join(ROOT, 'target'), { recursive: true });
  writeFileSync(
    path.join(ROOT, 'target/web-size.json'),
    JSON.stringify({ transferred, decoded, requests: entries.length, entries }, null, 2),
  );
  console.log(`attendee first load: ${entries.length} requests, ${transferred} bytes transferred, ${decoded} bytes decoded`);
  expect(transferred).toBeLessThanOrEqual(BUDGET);
});
