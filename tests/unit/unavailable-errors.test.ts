import { describe, expect, it } from 'vitest';
import { isRecordError, isUnavailableError } from '../../speed/poison';

// Which processor failures park the shard consumer (the service is away or busy: retry in the
// attempt, with backoff) and which do not (a bug, or the data: fail the attempt, or isolate the record).

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code, severity: 'ERROR' });

describe('isUnavailableError', () => {
  it('parks on sockets refused or cut, PostgreSQL going away or busy, lock timeouts and AWS throttling', () => {
    expect(isUnavailableError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailableError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailableError(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
    expect(isUnavailableError(pgError('08006'))).toBe(true);
    expect(isUnavailableError(pgError('55P03', 'canceling statement due to lock timeout'))).toBe(true);
    expect(isUnavailableError(new AggregateError([Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })]))).toBe(true);
    expect(isUnavailableError(Object.assign(new Error('slow down'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }))).toBe(true);
    expect(isUnavailableError(Object.assign(new Error('oops'), { name: 'InternalServerException', $metadata: { httpStatusCode: 500 } }))).toBe(true);
  });

  it('does not park on data errors, bugs or refusals', () => {
    for (const err of [pgError('22P02', 'invalid input syntax'), pgError('42P01', 'relation does not exist'), new TypeError('x is undefined'), new Error('plain'),
      Object.assign(new Error('bad request'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }), undefined, 'text']) {
      expect(isUnavailableError(err)).toBe(false);
    }
    // The two classifications never overlap.
    expect(isRecordError(pgError('55P03'))).toBe(false);
  });
});
