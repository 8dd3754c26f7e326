import { linkLocal, parseTarget, privateRanges, type NetworkConfig } from '../container/egress-policy.js';

/** The port the egress proxy listens on, inside the build's overlay. */
export const egressProxyPort = 3128;

/** What the proxy enforces (JSON in `BOSUN_EGRESS_POLICY`). */
export interface ProxyPolicy {
  egress: 'internet' | 'allowlist';
  allow: Array<{ cidr: string; port?: number }>;
  deny: Array<{ cidr: string; port?: number }>;
  /** Every swarm node's own address and this host's: never reachable. */
  nodes: string[];
  private: string[];
  linkLocal: string;
  /** The policy line of the step logs, quoted in every refusal. */
  describe: string;
}

export function proxyPolicy(policy: NetworkConfig, nodes: string[], describe: string): ProxyPolicy {
  if (policy.egress === 'none') throw new Error('egress none has no proxy');
  return {
    egress: policy.egress,
    allow: policy.allow.map(parseTarget),
    deny: policy.deny.map(parseTarget),
    nodes,
    private: [...privateRanges],
    linkLocal,
    describe,
  };
}

/**
 * The egress proxy (Python 3 standard library only; run as `python3 -c`). An HTTP proxy on
 * port 3128: `CONNECT host:port` (HTTPS and any TCP a tool tunnels) and absolute `http://` URLs
 * (forwarded with `Connection: close`). Before connecting it resolves the name (through the
 * container's DNS, i.e. the policy's name servers) and checks EVERY address it resolves to:
 * never loopback, 0/8, link-local (169.254.169.254), multicast/reserved, a swarm node's
 * address, `deny`; then `allow` passes; then `allowlist` refuses the rest and `internet`
 * refuses the private ranges. A refusal is answered `403 Forbidden` with a one-line text
 * starting `bosun egress proxy: refused`, which tools print (pip: "Tunnel connection failed:
 * 403 …"), and the same line goes to the proxy's own log. The kernel rules on the proxy's
 * routed network (`EgressRules`) enforce the same policy underneath.
 */
export const egressProxyScript = String.raw`
import ipaddress, json, os, select, socket, socketserver, sys, urllib.parse
P = json.loads(os.environ["BOSUN_EGRESS_POLICY"])
def rules(entries):
    return [(ipaddress.ip_network(e["cidr"], strict=False), e.get("port")) for e in entries]
ALLOW, DENY = rules(P["allow"]), rules(P["deny"])
NODES = [ipaddress.ip_address(a) for a in P["nodes"]]
PRIVATE = [ipaddress.ip_network(c) for c in P["private"]]
NEVER = [ipaddress.ip_network(c) for c in ("0.0.0.0/8", "127.0.0.0/8", P["linkLocal"], "224.0.0.0/4", "240.0.0.0/4")]
def hit(rs, ip, port):
    return any(ip in n and (p is None or p == port) for n, p in rs)
def verdict(addr, port):
    ip = ipaddress.ip_address(addr)
    if ip.version != 4:
        return "IPv6 is not routed for steps"
    if any(ip in n for n in NEVER):
        return "loopback, link-local (169.254.169.254) and reserved addresses are never reachable"
    if ip in NODES:
        return "it is a swarm node's own address (this host's included)"
    if hit(DENY, ip, port):
        return "network.deny names it"
    if hit(ALLOW, ip, port):
        return None
    if P["egress"] == "allowlist":
        return "network.allow does not name it"
    if any(ip in n for n in PRIVATE):
        return "it is in a private range that network.allow does not name"
    return None
def log(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
class Handler(socketserver.BaseRequestHandler):
    def answer(self, code, reason, text):
        body = (text + "\n").encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (code, reason, len(body))
        try:
            self.request.sendall(head.encode() + body)
        except OSError:
            pass
    def open(self, host, port):
        target = "%s:%d" % (host, port)
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            text = "bosun egress proxy: cannot resolve %s: %s" % (host, e)
            log(text)
            self.answer(502, "Bad Gateway", text)
            return None
        addrs = []
        for info in infos:
            if info[4][0] not in addrs:
                addrs.append(info[4][0])
        for addr in addrs:
            why = verdict(addr, port)
            if why:
                text = "bosun egress proxy: refused %s (%s): %s; policy %s" % (target, addr, why, P["describe"])
                log(text)
                self.answer(403, "Forbidden", text)
                return None
        try:
            return socket.create_connection((addrs[0], port), timeout=15)
        except OSError as e:
            if getattr(e, "errno", None) == 113:
                text = "bosun egress proxy: refused %s (%s): the build's egress rules refuse it (%s); policy %s" % (target, addrs[0], e, P["describe"])
                log(text)
                self.answer(403, "Forbidden", text)
                return None
            text = "bosun egress proxy: could not connect to %s (%s): %s" % (target, addrs[0], e)
            log(text)
            self.answer(502, "Bad Gateway", text)
            return None
    def handle(self):
        conn = self.request
        conn.settimeout(30)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                if len(data) > 262144:
                    return self.answer(400, "Bad Request", "bosun egress proxy: request head too large")
        except OSError:
            return
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return self.answer(400, "Bad Request", "bosun egress proxy: bad request line")
        method, target, version = parts
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not host or not port.isdigit():
                return self.answer(400, "Bad Request", "bosun egress proxy: CONNECT needs host:port")
            up = self.open(host.strip("[]"), int(port))
            if up is None:
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urllib.parse.urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                return self.answer(400, "Bad Request", "bosun egress proxy: only CONNECT and absolute http:// URLs")
            up = self.open(url.hostname, url.port or 80)
            if up is None:
                return
            path = (url.path or "/") + ("?" + url.query if url.query else "")
            keep = [l for l in lines[1:] if l and not l.lower().startswith(("proxy-", "connection:", "keep-alive:"))]
            rest = ("%s %s %s\r\n" % (method, path, version) + "".join(l + "\r\n" for l in keep) + "Connection: close\r\n\r\n").encode("latin-1") + rest
        try:
            if rest:
                up.sendall(rest)
            conn.settimeout(None)
            up.settimeout(None)
            pair = {conn: up, up: conn}
            while True:
                ready, _, _ = select.select(list(pair), [], [], 300)
                if not ready:
                    return
                for s in ready:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    pair[s].sendall(chunk)
        except OSError:
            return
        finally:
            up.close()
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
log("bosun egress proxy: listening on :%d; policy %s" % (int(os.environ.get("BOSUN_EGRESS_PORT", "3128")), P["describe"]))
Server((os.environ.get("BOSUN_EGRESS_BIND", "0.0.0.0"), int(os.environ.get("BOSUN_EGRESS_PORT", "3128"))), Handler).serve_forever()
`;
