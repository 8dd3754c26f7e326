import { chromium, type Browser } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser (scripts/install-deps.sh installs it). */
export const chromiumPath = '/usr/bin/chromium';

/** Launches the distribution's Chromium, headless, for one test file. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}
