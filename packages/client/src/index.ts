export * from './common.ts';
export * from './mts-auth.ts';
export * from './auth-v3.ts';
