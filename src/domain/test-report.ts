/** One failing (or erroring) test case as a JUnit report names it. */
export interface FailedTest {
  /** `classname.name` when the report gives both, else `name`. */
  name: string;
  /** First line of the failure message, capped. */
  message?: string;
  /** Source file and line when the report or the message says so. */
  file?: string;
  line?: number;
}

/** What a stage's JUnit reports (`reports:`) said, summed over every file. */
export interface TestSummary {
  total: number;
  failed: number;
  errors: number;
  skipped: number;
  /** The first failing cases (at most 50), in report order; `failed + errors` is the full count. */
  failures: FailedTest[];
  /** Report files read (workspace-relative). */
  files: string[];
  /** Files refused or unreadable, each with why (malformed, too large, entity declarations). */
  problems?: string[];
}
