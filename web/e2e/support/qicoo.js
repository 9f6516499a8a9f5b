// The `qicoo` fixture: a fresh Qicoo per test, started from the binary cargo
// built (QICOO_BIN) on a free port with its own temporary SQLite file, and
// stopped (and its folder removed) when the test ends. Also a few API helpers,
// so a test can set up what it does not exercise through the UI.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';

const STARTUP_MS = 30_000;
const ANSI = /\u001b\[[0-9;]*m/g;

async function start() {
  const bin = process.env.QICOO_BIN;
  if (!bin) throw new Error('QICOO_BIN must name the qicoo binary (cargo build -p qicoo-api)');
  const dir = mkdtempSync(path.join(tmpdir(), 'qicoo-e2e-'));
  // Only the settings this test chooses: nothing from the caller's QICOO_* environment.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QICOO_')));
  Object.assign(env, {
    QICOO_LISTEN: '127.0.0.1:0',
    QICOO_EVENT_STORE_URL: `sqlite://${dir}/q.db`,
    NO_COLOR: '1',
  });
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Qicoo did not start within ${STARTUP_MS} ms:\n${log}`)), STARTUP_MS);
    const read = (chunk) => {
      log += chunk.toString().replace(ANSI, '');
      const match = /Qicoo is serving on (http:\/\/[^\s/]+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Qicoo exited with ${code} before serving:\n${log}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, stop, log: () => log };
}

async function api(url, method, route, { body, auth } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (auth) headers.authorization = `Bearer ${auth}`;
  const response = await fetch(`${url}/api/v1${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Playwright's `test` with a running Qicoo as the `qicoo` fixture. */
export const test = base.extend({
  qicoo: async ({}, use) => {
    const server = await start();
    const helpers = {
      url: server.url,
      api: (method, route, options) => api(server.url, method, route, options),
      /** A meetup created over the API: `{meetup, organizer_key}`. */
      createMeetup: (title, moderated = false) => api(server.url, 'POST', '/meetups', { body: { title, moderated } }),
      /** A new participant's token. */
      participant: async () => (await api(server.url, 'POST', '/participants')).token,
      /** Every question anyone may see (published), most liked first. */
      publicQuestions: async (meetupId) => (await api(server.url, 'GET', `/meetups/${meetupId}/questions?limit=100`)).items,
    };
    await use(helpers);
    await server.stop();
  },
});

export { expect };
