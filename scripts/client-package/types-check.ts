// Compile-time checks of the published types (type-checked, never run).
import { createMtsAuthClient, type MtsAuthErrorBody, type PolyauthError } from '@polyauth/client';

export function typeChecks(): void {
  const mts = createMtsAuthClient({ baseUrl: 'http://localhost', clientId: 'id', clientSecret: 'secret' });
  // @ts-expect-error a path that is not in the mts-auth spec
  void mts.api.GET('/usr');
  // @ts-expect-error GET /user/{id} needs its path parameter
  void mts.api.GET('/user/{id}');
  // @ts-expect-error signIn takes one credentials object
  void mts.signIn('ada@example.com', 'correct horse battery');
  const body: MtsAuthErrorBody | undefined = undefined as unknown as PolyauthError<MtsAuthErrorBody>['body'];
  void body;
}
