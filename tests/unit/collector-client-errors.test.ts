import { describe, expect, it } from 'vitest';
import { clientErrorResponse, clientErrorStatus } from '../../collector/client-errors';

// The answers to requests Node's HTTP parser refuses (the socket-level test is in
// tests/integration/collector.test.ts).

describe('client errors', () => {
  it('gives each parser refusal the status Node itself gives it', () => {
    expect(clientErrorStatus('HPE_HEADER_OVERFLOW')).toBe(431);
    expect(clientErrorStatus('HPE_CHUNK_EXTENSIONS_OVERFLOW')).toBe(413);
    expect(clientErrorStatus('ERR_HTTP_REQUEST_TIMEOUT')).toBe(408);
    for (const code of ['HPE_INVALID_METHOD', 'HPE_INVALID_CONSTANT', 'HPE_INVALID_HEADER_TOKEN', undefined]) expect(clientErrorStatus(code)).toBe(400);
  });

  it('answers with a status line, no body and a closed connection, whatever the method was', () => {
    for (const status of [400, 408, 413, 431]) {
      const res = clientErrorResponse(status);
      const [head, body] = res.split('\r\n\r\n');
      expect(body).toBe('');
      const [line, ...headers] = head.split('\r\n');
      expect(line).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [A-Z][A-Za-z -]+$`));
      expect(headers).toEqual(['Content-Length: 0', 'Connection: close']);
    }
  });
});
