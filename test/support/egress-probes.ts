/**
 * Step commands that probe where a step's traffic may go (python3 of the base image; no single
 * quotes inside, they run as `python3 -c '…'`). Each prints one line per target.
 */

/** Plain TCP to each `host:port` in $PROBES: `OPEN <target> <greeting>` or `SHUT <target> <error>`. */
const tcpScript = [
  'import os, socket',
  'for target in os.environ["PROBES"].split():',
  '    host, port = target.rsplit(":", 1)',
  '    try:',
  '        s = socket.create_connection((host, int(port)), timeout=3)',
  '    except OSError as e:',
  '        print("SHUT", target, type(e).__name__, flush=True)',
  '        continue',
  '    s.settimeout(1)',
  '    try:',
  '        greeting = s.recv(64).decode().strip()',
  '    except OSError:',
  '        greeting = "-"',
  '    print("OPEN", target, greeting, flush=True)',
].join('\n');
export const tcpProbe = `python3 -c '${tcpScript}'`;

/**
 * `CONNECT` through $HTTP_PROXY to each `host:port` in $TUNNELS: `TUNNEL <target> <greeting>`
 * (the proxy let it through), `REFUSED <target> <status line> | <body>` (the proxy said no), or
 * `NOPROXY <target> <error>` (the proxy itself was not reachable).
 */
const connectScript = [
  'import os, socket',
  'proxy = os.environ["HTTP_PROXY"].split("//", 1)[1].rstrip("/")',
  'ph, pp = proxy.rsplit(":", 1)',
  'for target in os.environ["TUNNELS"].split():',
  '    try:',
  '        s = socket.create_connection((ph, int(pp)), timeout=10)',
  '        s.sendall(("CONNECT %s HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % (target, target)).encode())',
  '        s.settimeout(10)',
  '        head = b""',
  '        while b"\\r\\n\\r\\n" not in head:',
  '            c = s.recv(4096)',
  '            if not c:',
  '                break',
  '            head += c',
  '    except OSError as e:',
  '        print("NOPROXY", target, type(e).__name__, e, flush=True)',
  '        continue',
  '    status = head.split(b"\\r\\n", 1)[0].decode(errors="replace")',
  '    rest = head.split(b"\\r\\n\\r\\n", 1)[1] if b"\\r\\n\\r\\n" in head else b""',
  '    if status.split(" ")[1:2] == ["200"]:',
  '        s.settimeout(2)',
  '        try:',
  '            greeting = (rest + s.recv(64)).decode(errors="replace").strip() or "-"',
  '        except OSError:',
  '            greeting = rest.decode(errors="replace").strip() or "-"',
  '        print("TUNNEL", target, greeting, flush=True)',
  '    else:',
  '        try:',
  '            s.settimeout(2)',
  '            rest += s.recv(4096)',
  '        except OSError:',
  '            pass',
  '        print("REFUSED", target, status, "|", rest.decode(errors="replace").strip(), flush=True)',
].join('\n');
export const connectProbe = `python3 -c '${connectScript}'`;

/** Fetch pip from the index by name, then `pip download` a package by name through it (both honour HTTP_PROXY when set). */
export const pipDownload = (indexUrl: string, pkg: string): string[] => [
  "python3 -c \"import urllib.request; urllib.request.urlretrieve('http://pypi.test/files/pip.whl', '/tmp/pip.whl')\"",
  `python3 /tmp/pip.whl/pip download --no-cache-dir --disable-pip-version-check --retries 0 --timeout 5 --index-url ${indexUrl} --trusted-host pypi.test -d /tmp/dl ${pkg}`,
];

/** The lines of `out` that start with `word`. */
export function linesOf(out: string, word: string): string[] {
  return out.split('\n').filter((l) => l.startsWith(`${word} `));
}
