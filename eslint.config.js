// typescript-eslint's recommended rules over every source, test and script.
// The generated API types are checked by the generated-code check instead.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', 'packages/api-types/src/**', 'apps/docs/dist/**', 'packages/*/dist/**', '.data/**', 'coverage/**', '.turbo/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Handlers and admin commands call a use-case of identity/; the store and
    // the database handle they could reach through the services are for the
    // composition roots (lint:deps forbids importing the store itself).
    files: ['apps/server/src/apis/**/*.ts', 'apps/server/src/cli/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'MemberExpression[property.name=/^(store|db)$/]',
          message: 'Call a use-case of identity/ instead of the store (DESIGN.md, "Where a new rule goes").',
        },
        {
          selector: 'ObjectPattern > Property[key.name=/^(store|db)$/]',
          message: 'Call a use-case of identity/ instead of the store (DESIGN.md, "Where a new rule goes").',
        },
      ],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
