import { randomUUID } from 'node:crypto';

// The hostile share of the soak's traffic: requests a real tracker never sends, each built as raw
// text (so `__proto__` keys and 5,000-level nesting reach the wire as written) and sent with plain
// fetch. Every answer is counted per class and status; a 5xx other than 503 (sink full) or no
// answer at all is what the soak reports as a failure.

const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';
const UNSTRUCT = 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0';
const CONTEXTS = 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0';
export const HOSTILE_APP_ID = 'soak-hostile';
const DEPTH = 5_000;
const HUGE = '1e99999999';

// Nested 5,000 levels deep: objects (~30 KB) and arrays (~10 KB).
const DEEP_OBJECT = `${'{"a":'.repeat(DEPTH)}0${'}'.repeat(DEPTH)}`;
const DEEP_ARRAY = `${'['.repeat(DEPTH)}0${']'.repeat(DEPTH)}`;

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const json = (s: string) => JSON.stringify(s);

export interface HostileRequest {
  method: 'GET' | 'POST';
  /** Path and querystring, sent as written. */
  path: string;
  contentType?: string;
  body?: string;
}

export const HOSTILE_CLASSES = [
  'deep-json-tp2-body',
  'deep-json-ue',
  'deep-json-cx',
  'huge-exponent',
  'body-just-under-limit',
  'body-over-limit',
  'proto-constructor-keys',
  'invalid-utf8-querystring',
  'broken-percent-encoding',
  'broken-base64',
  'wrong-content-type',
  'truncated-json',
  'webhook-deep-json',
] as const;
export type HostileClass = (typeof HOSTILE_CLASSES)[number];

/** The fields every hostile event carries (raw JSON members), so its rows are told apart from the tracked ones. */
function baseFields(e: string, cls: string): string {
  return `"e":${json(e)},"aid":${json(HOSTILE_APP_ID)},"p":"srv","tv":"soak-hostile-0","eid":${json(randomUUID())},"dtm":${json(String(Date.now()))},"se_ca":"hostile","se_ac":${json(cls)}`;
}

const tp2Body = (...events: string[]) => `{"schema":${json(PAYLOAD_DATA)},"data":[${events.map((e) => `{${e}}`).join(',')}]}`;
const tp2 = (body: string, contentType = 'application/json; charset=UTF-8'): HostileRequest => ({ method: 'POST', path: TP2, contentType, body });
const pixel = (qs: string): HostileRequest => ({ method: 'GET', path: `/i?${qs}` });
const baseQs = (e: string, cls: string) => `e=${e}&aid=${HOSTILE_APP_ID}&p=srv&tv=soak-hostile-0&eid=${randomUUID()}&se_ca=hostile&se_ac=${cls}`;

/** A tp2 body of `targetBytes` (±0) holding one event padded out with a long field. */
function sizedBody(targetBytes: number, cls: string): string {
  const empty = tp2Body(`${baseFields('se', cls)},"se_pr":""`);
  return tp2Body(`${baseFields('se', cls)},"se_pr":"${'x'.repeat(Math.max(0, targetBytes - Buffer.byteLength(empty)))}"`);
}

/** One request of `cls`; `variant` (a running count) rotates through each class's forms. */
export function buildHostile(cls: HostileClass, variant: number, bodyLimitBytes: number): HostileRequest {
  const v = variant;
  switch (cls) {
    case 'deep-json-tp2-body':
      return tp2(tp2Body(`${baseFields('se', cls)},"deep":${v % 2 ? DEEP_ARRAY : DEEP_OBJECT}`));
    case 'deep-json-ue': {
      const ue = `{"schema":${json(UNSTRUCT)},"data":{"schema":"iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1","data":{"targetUrl":"https://example.com/","deep":${v % 2 ? DEEP_ARRAY : DEEP_OBJECT}}}}`;
      return tp2(tp2Body(`${baseFields('ue', cls)},${v % 2 ? `"ue_pr":${json(ue)}` : `"ue_px":${json(b64url(ue))}`}`));
    }
    case 'deep-json-cx': {
      const cx = `{"schema":${json(CONTEXTS)},"data":[{"schema":"iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0","data":${v % 2 ? DEEP_ARRAY : DEEP_OBJECT}}]}`;
      // Arrays fit a GET within the header limit (13 KB of base64); objects go in a POST.
      return v % 2 ? pixel(`${baseQs('se', cls)}&cx=${b64url(cx)}`) : tp2(tp2Body(`${baseFields('se', cls)},"cx":${json(b64url(cx))}`));
    }
    case 'huge-exponent':
      switch (v % 3) {
        case 0:
          return tp2(tp2Body(`${baseFields('se', cls)},"se_va":"${HUGE}"`));
        case 1:
          return pixel(`${baseQs('tr', cls)}&tr_id=soak-${v}&tr_tt=${HUGE}&tr_tx=-${HUGE}&tr_sh=${HUGE}`);
        default: {
          const ue = `{"schema":${json(UNSTRUCT)},"data":{"schema":"iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1","data":{"targetUrl":"https://example.com/","n":${HUGE}}}}`;
          return tp2(tp2Body(`${baseFields('ue', cls)},"ue_px":${json(b64url(ue))},"se_va":"-${HUGE}"`));
        }
      }
    case 'body-just-under-limit':
      return tp2(sizedBody(bodyLimitBytes - 16, cls));
    case 'body-over-limit':
      return tp2(sizedBody(bodyLimitBytes + 1_024, cls));
    case 'proto-constructor-keys': {
      const ue = `{"schema":${json(UNSTRUCT)},"data":{"schema":"iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1","data":{"targetUrl":"https://example.com/","__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}}}`;
      const cx = `{"schema":${json(CONTEXTS)},"__proto__":{"polluted":1},"data":[{"schema":"iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0","data":{"id":"0c3b8c7d-2a1e-4f6b-9c8d-7e6f5a4b3c2d","__proto__":{"x":1}}}]}`;
      if (v % 2) return pixel(`${baseQs('pv', cls)}&__proto__=1&__proto__[admin]=1&constructor=x&constructor[prototype][admin]=1&url=https%3A%2F%2Fexample.com%2F`);
      return tp2(tp2Body(`${baseFields('ue', cls)},"__proto__":{"e":"pv"},"constructor":{"prototype":{"aid":"x"}},"ue_pr":${json(ue)},"cx":${json(b64url(cx))}`));
    }
    case 'invalid-utf8-querystring':
      // Overlong, truncated and surrogate sequences, percent-encoded as a client would send raw bytes.
      return pixel(`${baseQs('pv', cls)}&url=https%3A%2F%2Fexample.com%2F%C3%28%FF%FE&page=%ED%A0%80%C0%AF&refr=%E2%82`);
    case 'broken-percent-encoding':
      return pixel(`${baseQs('pv', cls)}&url=https%3A%2F%2Fexample.com%2F%E0%A4%A&page=100%&refr=%zz%G1&se_la=%`);
    case 'broken-base64':
      switch (v % 3) {
        case 0:
          return pixel(`${baseQs('ue', cls)}&ue_px=!!!not*base64!!!`);
        case 1:
          return pixel(`${baseQs('se', cls)}&cx=abcde`);
        default:
          return tp2(tp2Body(`${baseFields('se', cls)},"cx":"eyJ{{{"`));
      }
    case 'wrong-content-type': {
      const body = tp2Body(baseFields('se', cls));
      const types = ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x'];
      return tp2(body, types[v % types.length]);
    }
    case 'truncated-json': {
      const body = tp2Body(baseFields('se', cls), baseFields('pv', cls));
      return tp2(body.slice(0, Math.floor(body.length * (0.3 + 0.1 * (v % 5)))));
    }
    case 'webhook-deep-json': {
      const sd = `{"schema":"iglu:com.acme/deep/jsonschema/1-0-0","data":${v % 2 ? DEEP_ARRAY : DEEP_OBJECT}}`;
      const paths = ['/com.snowplowanalytics.iglu/v1', '/com.snowplowanalytics.iglu/v1?schema=iglu%3Acom.acme%2Fdeep%2Fjsonschema%2F1-0-0', '/com.mailchimp/v1', '/com.acme/v1'];
      return { method: 'POST', path: paths[v % paths.length], contentType: 'application/json', body: sd };
    }
  }
}

/** Answers per class: status code (or `no answer`) → count. */
export type HostileTally = Map<HostileClass, Map<string, number>>;

export class HostileSender {
  readonly tally: HostileTally = new Map(HOSTILE_CLASSES.map((c) => [c, new Map()]));
  sent = 0;
  /** 5xx other than 503, and requests that got no answer: what "never stops the pipeline" rules out. */
  unexpected: { cls: HostileClass; status: string; at: string }[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly collectorUrl: string,
    private readonly bodyLimitBytes: number,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Sends the next hostile request (classes in turn) without waiting for its answer. */
  sendNext(): void {
    const n = this.sent++;
    const cls = HOSTILE_CLASSES[n % HOSTILE_CLASSES.length];
    const req = buildHostile(cls, Math.floor(n / HOSTILE_CLASSES.length), this.bodyLimitBytes);
    const p = this.send(cls, req).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async send(cls: HostileClass, req: HostileRequest): Promise<void> {
    let status: string;
    try {
      const res = await fetch(`${this.collectorUrl}${req.path}`, {
        method: req.method,
        headers: req.contentType ? { 'content-type': req.contentType } : {},
        body: req.body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.arrayBuffer();
      status = String(res.status);
    } catch (err) {
      // fetch wraps socket errors in a TypeError; the cause says which (UND_ERR_SOCKET, ECONNRESET, …).
      const cause = (err as { cause?: { code?: string } }).cause;
      status = `no answer (${cause?.code ?? (err as Error).name})`;
    }
    const counts = this.tally.get(cls)!;
    counts.set(status, (counts.get(status) ?? 0) + 1);
    const code = Number(status);
    // A body over the limit is answered 413 as soon as its headers say so, and the connection is
    // closed: a client still uploading may see the reset before it reads the answer. That is
    // HTTP's way (RFC 9112, 9.6), not a request the collector failed to handle.
    const resetOverLimit = cls === 'body-over-limit' && /ECONNRESET|EPIPE|UND_ERR_SOCKET/.test(status);
    if (!resetOverLimit && (!Number.isFinite(code) || (code >= 500 && code !== 503))) this.unexpected.push({ cls, status, at: new Date().toISOString() });
  }

  /** Waits for every request still in flight. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
