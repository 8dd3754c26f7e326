// A node:test reporter that writes one line per test file whose run failed: the file-level
// test (its name is its path) completes with `passed: false` when any test in it failed, was
// cancelled, or the file itself crashed. scripts/test.sh reruns exactly these files.
export default async function* failedFiles(source) {
  for await (const event of source) {
    if (event.type === 'test:complete' && event.data.file && event.data.name === event.data.file && !event.data.details.passed) yield `${event.data.file}\n`;
  }
}
