import type { Command } from './command.js';
import { build } from './build.js';
import { status } from './status.js';
import { logs } from './logs.js';
import { cancel } from './cancel.js';
import { retry } from './retry.js';
import { pass, fail } from './decide.js';
import { lease } from './lease.js';
import { leases } from './leases.js';
import { renew } from './renew.js';
import { release } from './release.js';
import { merge } from './merge.js';
import { promote } from './promote.js';
import { okToTest } from './ok-to-test.js';
import { deploy } from './deploy.js';
import { rollback } from './rollback.js';
import { envs } from './envs.js';
import { lockEnv, unlockEnv } from './lock-env.js';
import { notify } from './notify.js';
import { makeHelpCommand } from './help.js';

/**
 * The explicit registry: every command Bosun understands, in the order help lists them. Fixed
 * at load and never changed: a command whose service this server lacks (leases without pools,
 * GitHub's without a `github` section) says so through `available`, which help and the
 * contexts' services decide per server, so two Bosun instances in one process never differ in
 * their commands through shared state.
 */
export const commands: readonly Command[] = Object.freeze([
  build,
  status,
  logs,
  cancel,
  retry,
  pass,
  fail,
  lease,
  leases,
  renew,
  release,
  merge,
  promote,
  okToTest,
  deploy,
  rollback,
  envs,
  lockEnv,
  unlockEnv,
  notify,
  makeHelpCommand(() => commands),
]);
