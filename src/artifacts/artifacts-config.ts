import { z } from 'zod';

/**
 * Server config `artifacts`: caps on what a build keeps, and how long. Files live in the data
 * directory (`<dataDir>/artifacts/<repo>/<build>/…`); no other store exists yet, so there is
 * no key to choose one. See docs/artifacts.md.
 */
export const ArtifactsConfig = z.strictObject({
  /** A file larger than this is not kept (a line in the step log says so). */
  maxFileBytes: z.number().int().positive().default(100 * 1024 ** 2),
  /** What one build keeps in all; files past it are not kept. */
  maxBuildBytes: z.number().int().positive().default(1024 ** 3),
  /** A JUnit report larger than this is not read (a `problems` entry says so). */
  maxReportBytes: z.number().int().positive().default(10 * 1024 ** 2),
  /** Builds' artifacts older than this are deleted by the sweeper (0 = no age limit). */
  retainDays: z.number().int().nonnegative().default(30),
  /** Per repository, only the newest N builds keep their artifacts (0 = no count limit). */
  retainBuildsPerRepo: z.number().int().nonnegative().default(50),
  /** How often the sweeper runs. */
  sweepIntervalSec: z.number().int().positive().default(3600),
});
export type ArtifactsConfig = z.infer<typeof ArtifactsConfig>;
