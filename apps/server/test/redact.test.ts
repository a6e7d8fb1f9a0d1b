import { describe, expect, test } from '@jest/globals';
import { redactRequestLog, redactUrl } from '../src/http/redact.ts';

describe('access-log redaction', () => {
  test.each([
    ['/api/v3/auth/login?userName=bob&password=pw&code=123456', '/api/v3/auth/login?userName=bob&password=[REDACTED]&code=[REDACTED]'],
    ['/web/login/authByToken?token=1-abc&url=/web/', '/web/login/authByToken?token=[REDACTED]&url=/web/'],
    ['/x?pass%77ord=pw&flag', '/x?pass%77ord=[REDACTED]&flag'],
    ['/x?%E0%A4%A=1', '/x?%E0%A4%A=1'],
    ['/plain', '/plain'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  test('the serialized request loses secrets in url and query', () => {
    const out = redactRequestLog({ method: 'GET', url: '/a?token=t&x=1', query: { token: 't', x: '1' } });
    expect(out).toEqual({ method: 'GET', url: '/a?token=[REDACTED]&x=1', query: { token: '[REDACTED]', x: '1' } });
  });
});
