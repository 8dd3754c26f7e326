// Lint rules: typescript-eslint's recommended set plus the layering rules:
// - commands/ and domain/ never import vendor SDKs;
// - domain/ imports only domain/ (and the error types): it is the bottom layer;
// - the pipeline never imports a front end (github/, chat/, http/): front ends call the pipeline;
// - no import cycles anywhere in src/ and commands/ (import-x/no-cycle, resolved through tsconfig).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const vendorSdks = ['@slack/*', '@octokit/*', 'zulip-js', 'dockerode', 'bullmq', 'ioredis', 'fastify'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'examples/**', 'spec-schema/*.json', '.data/**', '.scratch/**', '.image/**', '.bench-dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' }],
    },
  },
  {
    files: ['commands/**/*.ts', 'src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: vendorSdks.map((p) => ({ group: [p], message: 'commands/ and domain/ stay free of vendor SDKs.' })) }],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...vendorSdks.map((p) => ({ group: [p], message: 'commands/ and domain/ stay free of vendor SDKs.' })),
            { group: ['../*', '!../errors.js'], message: 'domain/ is the bottom layer: it imports only domain/ and errors.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/pipeline/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../github/*', '../chat/*', '../http/*'], message: 'The pipeline never imports a front end; inject what it needs.' }] },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'commands/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    // Tests read JSON responses loosely; assertions check their shape.
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
