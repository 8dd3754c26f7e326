import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's Python, with setuptools and wheel (python3-setuptools, python3-wheel): builds offline. */
export const systemPython = '/usr/bin/python3';

/** The commands a step runs to build `dist/` (sdist and wheel) offline with setuptools. */
export const buildDistCommand = `${systemPython} -c "from setuptools import build_meta as b; b.build_sdist('dist'); b.build_wheel('dist')"`;

/** A tiny importable package `name` at `version` whose module answers `greeting()` with `word`. */
export function packageFiles(name: string, version: string, word: string): Record<string, string> {
  const module = name.replaceAll('-', '_');
  return {
    'pyproject.toml': [
      '[build-system]',
      'requires = ["setuptools"]',
      'build-backend = "setuptools.build_meta"',
      '',
      '[project]',
      `name = "${name}"`,
      `version = "${version}"`,
      'description = "A package Bosun publishes in tests"',
      'requires-python = ">=3.9"',
      '',
      '[tool.setuptools]',
      `py-modules = ["${module}"]`,
      '',
    ].join('\n'),
    [`${module}.py`]: `def greeting():\n    return ${JSON.stringify(word)}\n`,
  };
}

/** Writes the package into `dir` and builds its `dist/` there, as a step would. */
export async function buildPackage(dir: string, name: string, version: string, word: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(packageFiles(name, version, word))) await writeFile(join(dir, path), content);
  await run('/bin/sh', ['-c', buildDistCommand], { cwd: dir, timeout: 120_000 });
}
