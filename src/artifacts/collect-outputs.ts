import { Readable } from 'node:stream';
import { extract, type Headers } from 'tar-stream';
import type { ArtifactFile } from '../domain/artifact.js';
import type { TestSummary } from '../domain/test-report.js';
import type { WorkspaceTar } from '../executor/workspace-files.js';
import { ArtifactTooLargeError, checkArtifactPath, formatBytes, type ArtifactStore } from './artifact-store.js';
import { GlobSet } from './glob-match.js';
import { mergeSummaries, parseJunit } from './junit-report.js';

export interface CollectRequest {
  repo: string;
  buildId: string;
  stage: string;
  step: string;
  artifacts: string[];
  reports: string[];
  /** Bytes the build has kept already (its earlier artifacts). */
  keptBytes: number;
  caps: { maxFileBytes: number; maxBuildBytes: number; maxReportBytes: number };
}

export interface CollectResult {
  artifacts: ArtifactFile[];
  /** The reports read (undefined when the step names none). */
  tests?: TestSummary;
  /** Lines for the step's log (`bosun: …`): what was kept, refused, capped. */
  notes: string[];
}

/**
 * Reads a workspace tar (from `Executor.readWorkspace`) once: regular files matching `artifacts`
 * go into the store (per-file and per-build caps), files matching `reports` are parsed as JUnit
 * (size-capped). Symlinks are never followed: one matching a glob is reported and skipped, so
 * nothing outside the workspace is ever read. Never throws for what is in the workspace.
 */
export async function collectOutputs(store: ArtifactStore, tar: WorkspaceTar, req: CollectRequest): Promise<CollectResult> {
  const artifactGlobs = new GlobSet(req.artifacts);
  const reportGlobs = new GlobSet(req.reports);
  const notes: string[] = [];
  const kept: ArtifactFile[] = [];
  const reportFiles: { path: string; xml: string }[] = [];
  const reportProblems: string[] = [];
  let keptBytes = req.keptBytes;
  let buildCapNoted = false;
  const matched: string[] = [];

  const reader = extract();
  reader.on('entry', (header: Headers, body: Readable, next: (err?: unknown) => void) => {
    const drain = (): void => {
      body.on('end', () => next());
      body.resume();
    };
    const path = entryPath(header.name, tar.prefix);
    const isArtifact = path !== undefined && artifactGlobs.matches(path);
    const isReport = path !== undefined && reportGlobs.matches(path);
    if (!path || (!isArtifact && !isReport) || header.type === 'directory') return drain();
    if (isArtifact) matched.push(path);
    if (header.type !== 'file' && header.type !== 'contiguous-file') {
      const what = header.type === 'symlink' ? `a symlink (to ${header.linkname ?? '?'})` : `not a regular file (${header.type ?? 'unknown'})`;
      const line = `${path} is ${what}: not read (symlinks are never followed)`;
      notes.push(`bosun: ${isArtifact ? 'artifact' : 'test report'} ${line}`);
      if (isReport) reportProblems.push(line);
      return drain();
    }
    const size = header.size ?? 0;
    void (async () => {
      let buffered: Buffer | undefined;
      // Whether `body` was read to its end here (tar-stream's entry streams lack `readableEnded`).
      let consumed = false;
      if (isReport) {
        if (size > req.caps.maxReportBytes) {
          reportProblems.push(`${path}: larger than ${formatBytes(req.caps.maxReportBytes)}; not read`);
          notes.push(`bosun: test report ${path} not read: larger than ${formatBytes(req.caps.maxReportBytes)} (artifacts.maxReportBytes)`);
        } else {
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk as Buffer);
          buffered = Buffer.concat(chunks);
          consumed = true;
          reportFiles.push({ path, xml: buffered.toString('utf8') });
        }
      }
      if (isArtifact) {
        if (size > req.caps.maxFileBytes) {
          notes.push(
            `bosun: artifact ${path} not kept: ${formatBytes(size)} is over the ${formatBytes(req.caps.maxFileBytes)} per-file cap (artifacts.maxFileBytes)`,
          );
        } else if (keptBytes + size > req.caps.maxBuildBytes) {
          if (!buildCapNoted)
            notes.push(
              `bosun: artifacts capped: the build keeps at most ${formatBytes(req.caps.maxBuildBytes)} (artifacts.maxBuildBytes); ${path} and later files not kept`,
            );
          else notes.push(`bosun: artifact ${path} not kept (build cap)`);
          buildCapNoted = true;
        } else {
          const source = buffered ? Readable.from([buffered]) : body;
          consumed = true;
          try {
            const stored = await store.put(req.repo, req.buildId, path, source, req.caps.maxFileBytes);
            keptBytes += stored.size;
            kept.push({ path, stage: req.stage, step: req.step, size: stored.size, sha256: stored.sha256 });
            notes.push(`bosun: kept artifact ${path} (${formatBytes(stored.size)}, sha256 ${stored.sha256})`);
          } catch (err) {
            const why = err instanceof ArtifactTooLargeError ? err.message : `could not store it: ${err instanceof Error ? err.message : String(err)}`;
            body.resume();
            notes.push(`bosun: artifact ${path} not kept: ${why}`);
          }
        }
      }
      if (consumed) next();
      else drain();
    })().catch((err: unknown) => next(err));
  });

  await new Promise<void>((resolve, reject) => {
    reader.once('finish', resolve);
    reader.once('error', reject);
    tar.stream.once('error', reject);
    tar.stream.pipe(reader);
  });

  // Files the executor left out for their size (never read): the same lines as if read.
  for (const { path, size } of tar.oversized ?? []) {
    matched.push(path);
    if (reportGlobs.matches(path) && size > req.caps.maxReportBytes) {
      reportProblems.push(`${path}: larger than ${formatBytes(req.caps.maxReportBytes)}; not read`);
      notes.push(`bosun: test report ${path} not read: larger than ${formatBytes(req.caps.maxReportBytes)} (artifacts.maxReportBytes)`);
    }
    if (artifactGlobs.matches(path))
      notes.push(
        `bosun: artifact ${path} not kept: ${formatBytes(size)} is over the ${formatBytes(req.caps.maxFileBytes)} per-file cap (artifacts.maxFileBytes)`,
      );
  }
  for (const glob of req.artifacts) {
    const one = new GlobSet([glob]);
    if (!matched.some((p) => one.matches(p))) notes.push(`bosun: artifacts: nothing matched ${glob}`);
  }
  let tests: TestSummary | undefined;
  if (req.reports.length > 0) {
    for (const file of reportFiles) {
      const result = parseJunit(file.path, file.xml);
      if (result.ok) tests = mergeSummaries(tests, result.summary);
      else {
        reportProblems.push(result.problem);
        notes.push(`bosun: test report ${result.problem}`);
      }
    }
    if (reportFiles.length === 0 && reportProblems.length === 0) reportProblems.push(`no file matched ${req.reports.join(', ')}`);
    tests ??= { total: 0, failed: 0, errors: 0, skipped: 0, failures: [], files: [] };
    if (reportProblems.length) tests = { ...tests, problems: [...(tests.problems ?? []), ...reportProblems] };
  }
  return { artifacts: kept, ...(tests ? { tests } : {}), notes };
}

/** The entry's workspace-relative path (`./dist/x`, `workspace/dist/x` → `dist/x`); undefined for the root or a bad name. */
function entryPath(name: string, prefix?: string): string | undefined {
  let path = name.replace(/^\.\//, '').replace(/\/+$/, '');
  if (prefix) {
    if (path === prefix) return undefined;
    if (!path.startsWith(`${prefix}/`)) return undefined;
    path = path.slice(prefix.length + 1);
  }
  if (path === '' || path === '.') return undefined;
  return checkArtifactPath(path);
}
