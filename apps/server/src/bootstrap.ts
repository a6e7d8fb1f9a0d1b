import type { Services } from './services.ts';

/**
 * Development conveniences for the first `npm start` on an empty embedded
 * store: credentials to play with, printed once. Never with DATABASE_URL or
 * NODE_ENV=production. Each API adds what its walkthrough needs.
 */
export async function firstRunBootstrap(s: Services, print: (text: string) => void): Promise<boolean> {
  if (s.db.kind !== 'pglite' || s.config.env === 'production') return false;
  if ((await s.store.clients.count()) > 0 || (await s.store.users.count()) > 0) return false;
  const base = s.config.publicUrl;
  const oauth = await s.clients.create('oauth', 'development client');
  const basic = Buffer.from(`${oauth.client.clientId}:${oauth.secret}`).toString('base64');
  const mintApp = await s.clients.create('application', 'development application');
  const mint = `${base}/mint/api/v1`;
  const kate = '"username":"kc@goact.com.au","password":"correct horse battery"';
  const lines = [
    '',
    '  First start on an empty embedded store: created development credentials.',
    '  They are shown once (only hashes are stored).',
    '',
    `  OAuth client (mts-auth, oauth-service)  id: ${oauth.client.clientId}`,
    `                                          secret: ${oauth.secret}`,
    '',
    '  Try mts-auth:',
    `    curl -i -X POST ${base}/user -d firstName=Ada -d lastName=Lovelace -d email=ada@example.com -d 'password=correct horse battery'`,
    `    curl -s -X POST ${base}/oauth/token -H 'Authorization: Basic ${basic}' -d grant_type=password -d username=ada@example.com -d 'password=correct horse battery'`,
    `    curl -i ${base}/user -H 'Authorization: Bearer <access_token from above>'`,
    '',
    `  Mint application (mint-auth)            id: ${mintApp.client.clientId}`,
    `                                          secret: ${mintApp.secret}`,
    '',
    '  Try mint-auth:',
    `    curl -i -H 'Content-Type: application/json' -H 'Authorization: Application ${mintApp.client.clientId}:${mintApp.secret}' -X POST -d '{"grant_type":"signup","firstname":"Kate","lastname":"Smith",${kate}}' ${mint}/auth/register`,
    `    curl -i -H 'Content-Type: application/json' -X POST -d '{"grant_type":"password",${kate}}' ${mint}/auth/authorize`,
    `    curl -i ${mint}/auth/token_info -H 'Authorization: UserToken <access_token from above>'`,
    '',
    '  The same person (Ada, registered above) through user-token-auth:',
    `    curl -s -X POST ${base}/auth/login -u 'ada@example.com:correct horse battery'`,
    '',
    `  Docs: ${base}/docs/`,
    '',
  ];
  print(lines.join('\n'));
  return true;
}
