import { buildPageView, buildSelfDescribingEvent, buildStructEvent, newTracker } from '@snowplow/node-tracker';

// Sends a mix of events through the real Snowplow node tracker (the demo and the end-to-end tests).

export interface SendOptions {
  collectorUrl: string;
  appId: string;
  count: number;
  method?: 'post' | 'get';
}

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
    },
  );
  tracker.setDomainUserId('5d79770b-015b-4af8-8c91-b2ed6faf4b1e');
  for (let i = 0; i < opts.count; i++) {
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
            event: { schema: 'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1', data: { targetUrl: `https://example.com/${i}` } },
          }),
          [{ schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: '0c3b8c7d-2a1e-4f6b-9c8d-7e6f5a4b3c2d' } }],
        );
    }
  }
  await tracker.flush();
  return { sent: opts.count, failedRequests };
}
