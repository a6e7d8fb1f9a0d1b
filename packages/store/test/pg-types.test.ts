// The store's pg type parsers are per connection: importing or opening the
// store leaves pg's global registry as pg ships it (another user of pg in the
// same process parses as it expects), while the store's own connections
// return bigint ids as strings.
import { describe, expect, test } from '@jest/globals';
import pg from 'pg';

const INT8 = pg.types.builtins.INT8;
const INT4 = pg.types.builtins.INT4;
const pgDefault = { int8: pg.types.getTypeParser(INT8, 'text'), int4: pg.types.getTypeParser(INT4, 'text') };

describe('pg type parsers', () => {
  test("importing the store does not touch pg's global registry", async () => {
    const { pgTypes } = await import('../src/pg-types.ts');
    await import('../src/index.ts');
    expect(pg.types.getTypeParser(INT8, 'text')).toBe(pgDefault.int8);
    expect(pg.types.getTypeParser(INT4, 'text')).toBe(pgDefault.int4);
    // the store's own parsers: int8 as its text, everything else as pg's defaults
    expect(pgTypes.getTypeParser(INT8, 'text')('9007199254740993')).toBe('9007199254740993');
    expect(pgTypes.getTypeParser(INT4, 'text')).toBe(pgDefault.int4);
    expect(pgTypes.getTypeParser(INT8, 'binary')).toBe(pg.types.getTypeParser(INT8, 'binary'));
  });

  const url = process.env.DATABASE_URL;
  (url ? test : test.skip)('on Postgres: the store reads a bigint beyond 2^53 exactly, and pg\'s registry is still its default', async () => {
    const { openPostgres } = await import('../src/index.ts');
    const db = await openPostgres({ url: url!, poolMax: 1 });
    try {
      const { rows } = (await db.knex.raw('select 9007199254740993::bigint as id, 7::int4 as n')) as { rows: Array<{ id: unknown; n: unknown }> };
      expect(rows[0]).toEqual({ id: '9007199254740993', n: 7 });
      expect(pg.types.getTypeParser(INT8, 'text')).toBe(pgDefault.int8);
    } finally {
      await db.close();
    }
  });
  if (!url) console.warn('pg-types.test: DATABASE_URL is not set, so the Postgres case is skipped');
});
