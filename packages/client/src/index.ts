export * from './common.ts';
export * from './mts-auth.ts';
export * from './mint-auth.ts';
export * from './oauth-service.ts';
export * from './user-token-auth.ts';
export * from './auth-v3.ts';
