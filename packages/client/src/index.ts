export * from './common.ts';
export * from './mts-auth.ts';
export * from './oauth-service.ts';
