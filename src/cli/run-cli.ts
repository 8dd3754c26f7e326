import type { Reply } from '../../commands/command.js';
import { ApiClient, ApiError } from './api-client.js';
import { loadClientConfig, writeLoginFile, type ClientConfig } from './client-config.js';
import { followBuild } from './follow-build.js';
import { artifactsCommand } from './artifacts-command.js';

/**
 * The `bosun` command line, for any command but `start` and `worker`. `start` and `worker` run Bosun (loaded only for them); `login`,
 * `watch`, `build --follow` and `logs <build> <stage>/<step>` are the terminal's own; every
 * other command is a chat command, sent as typed to the server's command endpoint, so the
 * terminal has exactly the commands (and grammar) the server's registry has.
 *
 * Compiled to dist/ (`npm run build`), it loads nothing of the server: a client command costs
 * one node start and one HTTP request.
 */

/** Run by the server entry, not sent to a server. */
export const serverCommands = new Set(['start', 'worker']);

const localHelp = `usage: bosun [--url <url>] [--token <token>] <command> [<argument>…]

In this terminal:
  start [--port N] [--workers N]           run the Bosun server (API, web console, chat front ends, workers)
  worker [--labels a,b] [--concurrency N]  run workers only; many may share one Redis
  login <url> [--token <token>]            check the token against the server and save both in ~/.config/bosun/config.yml
  build <repo>[#<ref>] [--follow]          start a build; --follow shows it live, exit code = its result
  watch <build>                            follow a build live until it ends (also: logs <build> --follow)
  logs <build> <stage>/<step>              a step's whole log (-n N: its last N lines)
  artifacts <build> [--get <path>]         the files a build kept; --get downloads one (--out F), sha256 checked
  help [<command>]                         this help, then the server's commands; with a command, its details

Exit codes: 0 success; 1 failed build or refused command; 2 failed for an infrastructure reason; 3 cancelled.
Server and token: --url/--token, BOSUN_URL/BOSUN_API_TOKEN, a local .data/api-token, or \`bosun login\` (docs/cli.md).`;

export interface CliIo {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: { write(text: string): void; isTTY?: boolean };
  stderr: { write(text: string): void };
  readStdin(): Promise<string>;
}

/** Runs one command line; returns the process exit code. */
export async function runCli(io: CliIo): Promise<number> {
  const { flags, words } = splitGlobalFlags(io.argv);
  const [name = 'help', ...args] = words;
  const out = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const color = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  const config = () => loadClientConfig({ env: io.env, cwd: io.cwd, flags });

  try {
    if (name === '--help' || name === '-h') return await help(config(), [], out);
    if (name === 'help') return await help(config(), args, out);
    if (name === 'login') return await login(io, flags, args, out);
    if (name === 'watch') return await watch(config(), args[0], io, color);
    if (name === 'build' && args.some(isFollowFlag)) {
      const c = config();
      const reply = await send(c, `build ${quoteWords(args.filter((a) => !isFollowFlag(a)))}`);
      out(reply.text);
      if (reply.kind === 'error' || !reply.build) return 1;
      return await followBuild(client(c), reply.build.id, { write: (t) => io.stdout.write(t), color });
    }
    if (name === 'artifacts') {
      const c = config();
      return await artifactsCommand(client(c), args, { cwd: io.cwd, out, stdout: io.stdout as { write(data: Buffer | string): void } });
    }
    if (name === 'logs' || name === 'log') {
      if (args.some(isFollowFlag))
        return await watch(
          config(),
          args.find((a) => !isFollowFlag(a)),
          io,
          color,
        );
      const whole = wholeLogTarget(args);
      if (whole) {
        io.stdout.write(await client(config()).log(whole.id, whole.stage, whole.step));
        return 0;
      }
    }
    return await forward(config(), [name, ...args], out);
  } catch (err) {
    io.stderr.write(`bosun: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** Every command the server knows, as typed: `bosun lease device for 2h` is `/ci lease device for 2h`. */
async function forward(c: ClientConfig, words: string[], out: (t: string) => void): Promise<number> {
  const reply = await send(c, quoteWords(words));
  out(reply.text);
  if (reply.code?.length) out(reply.code.join('\n'));
  return reply.kind === 'error' ? 1 : 0;
}

async function help(c: ClientConfig, args: string[], out: (t: string) => void): Promise<number> {
  const topic = args[0];
  if (topic && (serverCommands.has(topic) || ['login', 'watch', 'artifacts'].includes(topic))) {
    out(
      localHelp
        .split('\n')
        .filter((l) => l.trimStart().startsWith(`${topic} `))
        .join('\n'),
    );
    return 0;
  }
  if (topic) return forward(c, ['help', ...args], out);
  out(localHelp);
  out('');
  try {
    const reply = await send(c, 'help');
    out(`Chat commands, from the server at ${c.url}:`);
    out(reply.text);
  } catch (err) {
    out(`The chat commands (status, lease, pass, …) come from the server, which did not answer: ${err instanceof Error ? err.message : String(err)}`);
  }
  return 0;
}

async function watch(c: ClientConfig, word: string | undefined, io: CliIo, color: boolean): Promise<number> {
  const id = /^#?(\d{1,12})$/.exec(word ?? '')?.[1];
  if (!id) {
    io.stdout.write('usage: bosun watch <build>\n');
    return 1;
  }
  return followBuild(client(c), id, { write: (t) => io.stdout.write(t), color });
}

async function login(io: CliIo, flags: { url?: string; token?: string }, args: string[], out: (t: string) => void): Promise<number> {
  const url = (args[0] ?? flags.url)?.replace(/\/+$/, '');
  if (!url || !/^https?:\/\/\S+$/.test(url)) {
    out('usage: bosun login <http(s)://server> [--token <token>]   (or the token on standard input)');
    return 1;
  }
  const token = flags.token ?? io.env.BOSUN_API_TOKEN ?? (await io.readStdin()).trim();
  if (!token) {
    out('bosun login needs the API token: --token <token>, BOSUN_API_TOKEN, or on standard input');
    return 1;
  }
  await new ApiClient(url, token).command('help');
  const file = writeLoginFile(io.env, { url, token });
  out(`Logged in to ${url}; saved in ${file} (mode 0600).`);
  return 0;
}

function client(c: ClientConfig): ApiClient {
  return new ApiClient(c.url, c.token);
}

/** Sends a command line; a refused token is explained with where the token came from or was looked for. */
async function send(c: ClientConfig, text: string): Promise<Reply> {
  try {
    return await client(c).command(text);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const where = c.tokenFrom ? `the token from ${c.tokenFrom} was refused` : `no API token found; looked at: ${c.looked.join(', ')}`;
      throw new Error(`${c.url} (from ${c.urlFrom}) needs a valid API token: ${where}. Run \`bosun login <url>\` or set BOSUN_API_TOKEN.`, { cause: err });
    }
    if (err instanceof ApiError && err.status === 0)
      throw new Error(`${err.message}; the URL came from ${c.urlFrom} — is \`bosun start\` running there?`, { cause: err });
    throw err;
  }
}

function splitGlobalFlags(argv: string[]): { flags: { url?: string; token?: string }; words: string[] } {
  const flags: { url?: string; token?: string } = {};
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const m = /^--(url|token)(?:=(.*))?$/.exec(word);
    if (!m) {
      words.push(word);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    flags[m[1] as 'url' | 'token'] = value;
  }
  return { flags, words };
}

function isFollowFlag(word: string): boolean {
  return word === '--follow' || word === '-f';
}

/** `logs 42 test/unit` (no -n/--lines): the whole log rather than the chat command's tail. */
function wholeLogTarget(args: string[]): { id: string; stage: string; step: string } | null {
  if (args.length !== 2) return null;
  const id = /^#?(\d{1,12})$/.exec(args[0]!)?.[1];
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(args[1]!);
  return id && m ? { id, stage: m[1]!, step: m[2]! } : null;
}

/** Joins argv for the command parser: a word with spaces or quotes is quoted, as it was in the shell. */
function quoteWords(words: readonly string[]): string {
  return words.map((w) => (w === '' || /[\s"\\]/.test(w) ? `"${w.replace(/["\\]/g, '\\$&')}"` : w)).join(' ');
}
