import type { FrontendFactory } from './frontend.js';

/**
 * The explicit registry of front ends and reporters, in start order. Each factory returns
 * null when its part of the server config is absent.
 */
export const frontendFactories: FrontendFactory[] = [];
