import { buildPageView, buildSelfDescribingEvent, buildStructEvent, newTracker } from '@snowplow/node-tracker';

// Sends a mix of events through the real Snowplow node tracker (the demo and the end-to-end tests).

export interface SendOptions {
  collectorUrl: string;
  appId: string;
  count: number;
  method?: 'post' | 'get';
  /**
   * Spread the events over this many users, each with its own domain user id, session id,
   * session index and user id (the platform is then `web`). Unset: one fixed domain user id.
   */
  users?: number;
  /** Called with the tracker's own key-value payload of every event the collector accepted. */
  onSent?: (payloads: Record<string, unknown>[]) => void;
}

const hex12 = (n: number) => n.toString(16).padStart(12, '0');

export async function sendTrackerEvents(opts: SendOptions): Promise<{ sent: number; failedRequests: number }> {
  const url = new URL(opts.collectorUrl);
  let failedRequests = 0;
  const tracker = newTracker(
    { namespace: 'sluice', appId: opts.appId, encodeBase64: true },
    {
      endpoint: url.hostname,
      protocol: url.protocol === 'https:' ? 'https' : 'http',
      port: Number(url.port),
      eventMethod: opts.method ?? 'post',
      bufferSize: opts.method === 'get' ? 1 : 10,
      onRequestFailure: () => {
        failedRequests += 1;
      },
      onRequestSuccess: opts.onSent ? (batch) => opts.onSent!(batch as Record<string, unknown>[]) : undefined,
    },
  );
  tracker.setDomainUserId('5d79770b-015b-4af8-8c91-b2ed6faf4b1e');
  const users = opts.users ?? 0;
  if (users > 0) {
    tracker.setPlatform('web');
    tracker.setLang('en-GB');
    tracker.setScreenResolution('1920', '1080');
  }
  for (let i = 0; i < opts.count; i++) {
    // The tracker's in-memory event store keeps at most 1,000 events and silently drops the
    // oldest beyond that: send what is queued before it fills.
    if (i > 0 && i % 500 === 0) await tracker.flush();
    if (users > 0) {
      // Each user sees a page view, a struct event and a link click in turn, over two sessions.
      const u = Math.floor(i / 3) % users;
      const session = Math.floor(i / (3 * users)) % 2;
      tracker.setDomainUserId(`5d79770b-015b-4af8-8c91-${hex12(u)}`);
      tracker.setSessionId(`0d5e5510-0000-4000-8000-${hex12(u * 2 + session)}`);
      tracker.setSessionIndex(session + 1);
      tracker.setUserId(`user-${u}`);
    }
    switch (i % 3) {
      case 0:
        tracker.track(buildPageView({ pageUrl: `https://shop.example.com/products/${i}?utm_source=demo`, pageTitle: `Product ${i}`, referrer: 'https://www.google.com/' }));
        break;
      case 1:
        tracker.track(buildStructEvent({ category: 'shop', action: 'add-to-basket', label: `sku-${i}`, value: i }));
        break;
      default:
        tracker.track(
          buildSelfDescribingEvent({
            event: {
              schema: 'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1',
              data: users > 0 ? { targetUrl: `https://example.com/${i}`, elementId: `link-${i % 7}`, elementClasses: ['nav', `item-${i % 5}`] } : { targetUrl: `https://example.com/${i}` },
            },
          }),
          [{ schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: users > 0 ? `0c3b8c7d-2a1e-4f6b-9c8d-${hex12(i)}` : '0c3b8c7d-2a1e-4f6b-9c8d-7e6f5a4b3c2d' } }],
        );
    }
  }
  await tracker.flush();
  // The tracker calls onRequestSuccess from a timer: let those run before returning.
  if (opts.onSent) await new Promise((r) => setTimeout(r, 20));
  return { sent: opts.count, failedRequests };
}
