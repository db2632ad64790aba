import { addPlugin, flushBuffer, newTracker, trackPageView, trackSelfDescribingEvent, trackStructEvent, type BrowserTracker } from '@snowplow/browser-tracker';
import { buildEcommerceTransaction, buildEcommerceTransactionItem } from '@snowplow/tracker-core';
import { CONTEXTS, SCENARIO } from '../scenario';

// The test page's script, bundled with esbuild at test time. The v4 browser tracker has no
// ecommerce (tr/ti) API any more, so those two events are built with the tracker's own core
// (`buildEcommerceTransaction`/`buildEcommerceTransactionItem` of the @snowplow/tracker-core the
// browser tracker ships with) and tracked through the browser tracker's core, obtained from a
// plugin: the events go out through the same emitter, with the same browser fields.

interface PageConfig {
  collector: string;
  method: 'get' | 'post';
  appId: string;
}

const page = globalThis as unknown as { SLUICE_PAGE: PageConfig; sluiceTrack?: { pageView(): void; rest(): void } };
const cfg = page.SLUICE_PAGE;

newTracker('sp', cfg.collector, { appId: cfg.appId, platform: 'web', eventMethod: cfg.method, bufferSize: 1, contexts: { webPage: true } });
let tracker: BrowserTracker | undefined;
addPlugin({ plugin: { activateBrowserPlugin: (t: BrowserTracker) => (tracker = t) } });

page.sluiceTrack = {
  pageView() {
    trackPageView({ title: SCENARIO.pageTitle, context: CONTEXTS });
  },
  rest() {
    trackStructEvent({ ...SCENARIO.struct, context: CONTEXTS });
    trackSelfDescribingEvent({ event: SCENARIO.selfDescribing, context: CONTEXTS });
    tracker!.core.track(buildEcommerceTransaction(SCENARIO.transaction), CONTEXTS);
    for (const item of SCENARIO.items) tracker!.core.track(buildEcommerceTransactionItem(item), CONTEXTS);
    flushBuffer();
  },
};
