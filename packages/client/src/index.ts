export * from './common.ts';
export * from './mts-auth.ts';
