import { describe, expect, test } from '@jest/globals';
import { redactUrl } from '../src/http/log-redact.ts';

describe('redactUrl', () => {
  test('masks secret query parameters and keeps the rest', () => {
    expect(redactUrl('/api/v3/auth/whoAmI?token=1-abc&x=1')).toBe('/api/v3/auth/whoAmI?token=[redacted]&x=1');
    expect(redactUrl('/web/login/authByToken?url=%2Fweb%2F&token=s3cret')).toBe('/web/login/authByToken?url=%2Fweb%2F&token=[redacted]');
    expect(redactUrl('/api/v3/auth/login?userName=ada&password=pw&code=123456')).toBe(
      '/api/v3/auth/login?userName=ada&password=[redacted]&code=[redacted]',
    );
    expect(redactUrl('/x?%74oken=abc')).toBe('/x?%74oken=[redacted]');
  });

  test('masks tokens carried in the path', () => {
    expect(redactUrl('/api/oauth/valid_email/abcdef123?x=1')).toBe('/api/oauth/valid_email/[redacted]?x=1');
  });

  test('leaves ordinary and malformed URLs readable', () => {
    expect(redactUrl('/user/12')).toBe('/user/12');
    expect(redactUrl('/x?%E0%A4%A=1&token')).toBe('/x?%E0%A4%A=1&token');
  });
});
