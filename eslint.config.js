// Lint rules: typescript-eslint's recommended set plus the layering rules from DESIGN.md
// (commands/ and domain/ never import vendor SDKs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const vendorSdks = ['@slack/*', '@octokit/*', 'zulip-js', 'dockerode', 'bullmq', 'ioredis', 'fastify'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'examples/**', 'spec-schema/*.json', '.data/**', '.scratch/**'] },
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
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    // Tests read JSON responses loosely; assertions check their shape.
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
