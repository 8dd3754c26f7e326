import { runCli, serverCommands } from './run-cli.js';

/**
 * Entry of the `bosun` command (bin/bosun). `start` and `worker` load the server; every other
 * command is a client of the HTTP API (src/cli/run-cli.ts) and loads none of it.
 */
async function loadServerCommands(): Promise<{ runServerCommand(argv: readonly string[]): Promise<void> }> {
  // A computed specifier: the compiled client does not pull the server into dist/.
  const entry = './server-main.js';
  try {
    return (await import(entry)) as { runServerCommand(argv: readonly string[]): Promise<void> };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND' || !import.meta.url.endsWith('.js')) throw err;
    throw new Error('`bosun start` and `bosun worker` run from the TypeScript sources: use bin/bosun', { cause: err });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (serverCommands.has(argv[0] ?? '')) {
    const { runServerCommand } = await loadServerCommands();
    await runServerCommand(argv);
    return;
  }
  process.exitCode = await runCli({
    argv,
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      if (process.stdin.isTTY) return '';
      let text = '';
      for await (const chunk of process.stdin) text += String(chunk);
      return text;
    },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bosun: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
