import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// Debian's Chromium (installed by `bin/bootstrap.mjs --test`), driven headless by playwright-core.
// CI runs as root, where Chromium refuses its sandbox; loopback pages only.

export const CHROMIUM_PATH = process.env.SLUICE_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH}: run node bin/bootstrap.mjs --test (as root) or set SLUICE_CHROMIUM`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
