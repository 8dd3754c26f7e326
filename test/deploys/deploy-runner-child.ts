// A Bosun deploy runner in its own process, for the kill -9 test (swarm-deploy.test.ts):
// argv: redis url, key prefix, swarm service, build id. It asks for the deploy and runs it
// with a short mutex lease, then waits to be killed.
import Docker from 'dockerode';
import { Redis } from 'ioredis';
import { BuildStore } from '../../src/storage/build-store.js';
import { AuditLog } from '../../src/storage/audit-log.js';
import { DeployStore } from '../../src/deploys/deploy-store.js';
import { DeployManager } from '../../src/deploys/deploy-manager.js';
import { SwarmServiceDeployTarget } from '../../src/deploys/swarm-service-target.js';
import { SwarmServiceTarget } from '../../src/deploys/environment-config.js';
import { silentLogger } from '../../src/logger.js';

const [url = '', prefix = '', service = '', buildId = ''] = process.argv.slice(2);
const client = new Redis(url, { maxRetriesPerRequest: null });
const cfg = SwarmServiceTarget.parse({ name: service, monitorSec: 3, healthTimeoutSec: 120 });
const manager = new DeployManager({
  environments: { staging: { repo: 'acme/api', requires: [], target: { swarmService: cfg } } },
  approvalsRequired: () => 1,
  store: new DeployStore(client, prefix),
  builds: new BuildStore(client, prefix),
  audit: new AuditLog(client, prefix),
  log: silentLogger(),
  target: () => new SwarmServiceDeployTarget(new Docker(), cfg, silentLogger()),
  leaseMs: 1500,
});
const r = await manager.request({
  repo: 'acme/api',
  selector: buildId,
  environment: 'staging',
  kind: 'deploy',
  actor: { id: 'cli:child', name: 'child' },
  source: 'cli',
});
process.stdout.write(`deploy ${r.deploy.id}\n`);
setInterval(() => undefined, 1000);
