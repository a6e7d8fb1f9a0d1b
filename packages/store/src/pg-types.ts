import pg from 'pg';

type TypeParser = (value: string) => unknown;
const keepText: TypeParser = (v) => v;

/**
 * The type parsers of every Postgres connection the store opens, given to
 * each pg client as its `types` option (never set on pg's global registry,
 * which every other user of pg in the process shares): bigint (int8) values
 * come back as strings, so ids stay strings everywhere (they may exceed
 * 2^53) and counts are normalised by their callers; every other type parses
 * as pg's defaults do.
 */
export const pgTypes = {
  getTypeParser(oid: number, format?: string): TypeParser {
    if (format === 'binary') return pg.types.getTypeParser(oid, 'binary') as TypeParser;
    return oid === pg.types.builtins.INT8 ? keepText : (pg.types.getTypeParser(oid, 'text') as TypeParser);
  },
};
