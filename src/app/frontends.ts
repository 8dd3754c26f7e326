import type { FrontendFactory } from './frontend.js';
import { githubFrontend } from '../github/github-frontend.js';
import { leaseHousekeepingFrontend } from '../leases/lease-frontend.js';
import { slackFrontend } from '../chat/slack/slack-frontend.js';
import { zulipFrontend } from '../chat/zulip/zulip-frontend.js';
import { integrationsFrontend } from './integrations-frontend.js';
import { deployFrontend } from '../deploys/deploy-frontend.js';

/**
 * The explicit registry of front ends and reporters, in start order. Each factory returns
 * null when its part of the server config is absent.
 */
export const frontendFactories: FrontendFactory[] = [
  integrationsFrontend,
  leaseHousekeepingFrontend,
  deployFrontend,
  githubFrontend,
  slackFrontend,
  zulipFrontend,
];
