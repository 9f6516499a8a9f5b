// Qicoo's browser tests. Chromium is the system's (Debian's `chromium` on the
// PATH, or CHROMIUM_PATH): Playwright never downloads a browser here. Each test
// starts its own Qicoo from QICOO_BIN (see support/qicoo.js).

import { execSync } from 'node:child_process';
import { defineConfig } from '@playwright/test';

function chromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execSync('command -v chromium', { encoding: 'utf8', shell: '/bin/sh' }).trim();
  } catch {
    throw new Error('chromium is not on the PATH (apt-get install chromium, or set CHROMIUM_PATH)');
  }
}

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 5_000 },
  fullyParallel: false,
  workers: Number(process.env.QICOO_E2E_WORKERS || 2),
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list']],
  outputDir: '../../target/playwright',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: chromium() },
    trace: 'retain-on-failure',
  },
});
