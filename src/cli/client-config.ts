import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Where the `bosun` client finds its server and API token. Kept free of the server's config
 * code (zod, yaml, the pools and front-end schemas) so a client command starts fast.
 *
 * Token, first found wins:
 *   1. `--token <token>`
 *   2. `BOSUN_API_TOKEN` (or `BOSUN_API_TOKEN_FILE`)
 *   3. `$BOSUN_DATA_DIR/api-token`
 *   4. `.data/api-token` in the current directory or the nearest parent that has one
 *      (a server started there by `bosun start`)
 *   5. `token:` in the config file written by `bosun login`
 * Server URL: `--url`, then `BOSUN_URL`, then the config file's `url:` (unless the token came
 * from a local data directory, which means the local server), then
 * `http://127.0.0.1:$BOSUN_PORT` (port 8080 by default).
 */
export interface ClientConfig {
  url: string;
  /** Where the URL came from, for messages: `--url`, `BOSUN_URL`, a config file path, `default`. */
  urlFrom: string;
  token: string | undefined;
  tokenFrom: string | undefined;
  /** Every place looked at for a token, in order, for the "no token" message. */
  looked: string[];
}

export interface ClientConfigInput {
  env: NodeJS.ProcessEnv;
  cwd: string;
  flags: { url?: string; token?: string };
}

/** `$XDG_CONFIG_HOME/bosun/config.yml`, else `~/.config/bosun/config.yml`; undefined without a home. */
function configFilePath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'bosun', 'config.yml');
  if (env.HOME) return join(env.HOME, '.config', 'bosun', 'config.yml');
  return undefined;
}

export function loadClientConfig({ env, cwd, flags }: ClientConfigInput): ClientConfig {
  const looked: string[] = [];
  const file = configFilePath(env);
  const fromFile = file && existsSync(file) ? readLoginFile(file) : {};
  let token: string | undefined;
  let tokenFrom: string | undefined;
  let local = false;
  const found = (value: string | undefined, from: string, isLocal = false): boolean => {
    if (!value) return false;
    token = value;
    tokenFrom = from;
    local = isLocal;
    return true;
  };

  looked.push('--token');
  if (!found(flags.token, '--token')) {
    looked.push('BOSUN_API_TOKEN');
    const envToken = env.BOSUN_API_TOKEN ?? (env.BOSUN_API_TOKEN_FILE ? readTrimmed(env.BOSUN_API_TOKEN_FILE) : undefined);
    if (!found(envToken, env.BOSUN_API_TOKEN ? 'BOSUN_API_TOKEN' : 'BOSUN_API_TOKEN_FILE')) {
      const dataFile = env.BOSUN_DATA_DIR ? join(resolve(cwd, env.BOSUN_DATA_DIR), 'api-token') : undefined;
      looked.push(dataFile ? `${dataFile} (BOSUN_DATA_DIR)` : '$BOSUN_DATA_DIR/api-token (BOSUN_DATA_DIR unset)');
      if (!found(dataFile && existsSync(dataFile) ? readTrimmed(dataFile) : undefined, dataFile ?? '', true)) {
        const nearest = nearestDataToken(cwd);
        looked.push(`.data/api-token in ${cwd} and its parents`);
        if (!found(nearest ? readTrimmed(nearest) : undefined, nearest ?? '', true)) {
          looked.push(file ? `${file}${existsSync(file) ? '' : ' (absent)'}` : 'the config file (no HOME)');
          found(fromFile.token, file ?? '');
        }
      }
    }
  }

  const port = env.BOSUN_PORT ?? '8080';
  const [url, urlFrom] = flags.url
    ? [flags.url, '--url']
    : env.BOSUN_URL
      ? [env.BOSUN_URL, 'BOSUN_URL']
      : fromFile.url && !local
        ? [fromFile.url, file ?? 'config file']
        : [`http://127.0.0.1:${port}`, env.BOSUN_PORT ? 'BOSUN_PORT' : 'default'];
  return { url: url.replace(/\/+$/, ''), urlFrom, token, tokenFrom, looked };
}

/** The first `.data/api-token` from `dir` upwards. */
function nearestDataToken(dir: string): string | undefined {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const candidate = join(at, '.data', 'api-token');
    if (existsSync(candidate)) return candidate;
    if (dirname(at) === at) return undefined;
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The login file is YAML restricted to flat `key: value` lines (`url`, `token`), read without a
 * YAML library. Anything else is refused by name rather than half understood.
 */
function readLoginFile(file: string): { url?: string; token?: string } {
  const out: { url?: string; token?: string } = {};
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(url|token):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected \`url: <server URL>\` or \`token: <API token>\``);
    const value = unquote(m[2]!.trim());
    if (m[1] === 'url') out.url = value;
    else out.token = value;
  });
  return out;
}

function unquote(value: string): string {
  const m = /^(["'])(.*)\1$/.exec(value);
  return m ? m[2]! : value;
}

/** Writes the login file (directory 0700, file 0600) and returns its path. */
export function writeLoginFile(env: NodeJS.ProcessEnv, login: { url: string; token: string }): string {
  const file = configFilePath(env);
  if (!file) throw new Error('cannot write the config file: neither XDG_CONFIG_HOME nor HOME is set');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `# Written by \`bosun login\`; keep it private.\nurl: ${JSON.stringify(login.url)}\ntoken: ${JSON.stringify(login.token)}\n`, {
    mode: 0o600,
  });
  chmodSync(file, 0o600);
  return file;
}
