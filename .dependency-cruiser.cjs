// The import arrows of DESIGN.md ("Who may import whom"), one forbidden rule
// per line there, so a wrong import fails `npm run lint` with the rule's name.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'api-not-into-other-api',
      comment: 'apps/server/apis/<api> never imports another apis/<api>: move the shared piece down to identity/ or http/.',
      severity: 'error',
      from: { path: '^apps/server/src/apis/([^/]+)/' },
      to: { path: '^apps/server/src/apis/([^/]+)/', pathNot: '^apps/server/src/apis/$1/' },
    },
    {
      name: 'identity-not-into-http',
      comment: 'apps/server/identity knows nothing of HTTP: no express, no http/, no apis/.',
      severity: 'error',
      from: { path: '^apps/server/src/identity/' },
      to: { path: ['^apps/server/src/(http|apis|cli)/', '(^|/)node_modules/(express|express-openapi-validator|helmet|cookie-parser|pino-http)/'] },
    },
    {
      name: 'only-identity-into-store',
      comment:
        'apis/, cli/ and http/ never use @polyauth/store at run time: they call a use-case of identity/ (only identity/ and the composition roots, services.ts and admin-services.ts, build on the store). `import type` is fine.',
      severity: 'error',
      from: { path: '^apps/server/src/(apis|cli|http)/' },
      to: { path: '^packages/store/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'http-not-into-apis',
      comment: 'apps/server/http assembles the app from the API list it is given; it never reaches into an API.',
      severity: 'error',
      from: { path: '^apps/server/src/http/' },
      to: { path: ['^apps/server/src/apis/', '^apps/server/src/cli/'] },
    },
    {
      name: 'client-only-types-and-fetch',
      comment: 'packages/client depends on @polyauth/api-types and openapi-fetch only (never the server or the store).',
      severity: 'error',
      from: { path: '^packages/client/src/' },
      to: { path: ['^apps/', '^packages/store/', '(^|/)node_modules/(?!openapi-fetch/)'] },
    },
    {
      name: 'store-not-into-server',
      comment: 'packages/store is the bottom floor: knex, pg, PGlite, never the server or the client.',
      severity: 'error',
      from: { path: '^packages/store/src/' },
      to: { path: ['^apps/', '^packages/(client|api-types)/'] },
    },
    {
      name: 'api-types-import-nothing',
      comment: 'packages/api-types is generated and imports nothing.',
      severity: 'error',
      from: { path: '^packages/api-types/src/' },
      to: { pathNot: '^packages/api-types/src/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles make the layering meaningless.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import must resolve.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)test/', '(^|/)dist/'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
