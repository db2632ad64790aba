import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The runtime the tests, services and CLI run on: Node.js 24 LTS from the pinned `node` package
// (node_modules/.bin/node, first on every `npm run` script's PATH), whatever the system's Node.

describe('runtime', () => {
  it('is Node.js 24', () => {
    expect(process.version).toMatch(/^v24\./);
  });

  it('loads the native addons on it', async () => {
    const require = createRequire(import.meta.url);
    expect(typeof require('lzo').compress).toBe('function');
    expect(typeof (await import('@temporalio/core-bridge')).native).toBe('object');
  });
});
