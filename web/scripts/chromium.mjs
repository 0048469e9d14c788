// Headless Chromium for the tests and benchmarks: Debian's chromium (or SDPIC_CHROMIUM), driven by
// playwright-core, with a quiet, offline, throw-away profile.

import { existsSync } from 'node:fs';

export const CHROMIUM = [process.env.SDPIC_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']
  .find((path) => path && existsSync(path));

export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** A persistent context on the profile folder `profile` (a fresh temporary folder). */
export async function launchChromium(profile) {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1180, height: 900 }, args: CHROMIUM_FLAGS,
  });
}
