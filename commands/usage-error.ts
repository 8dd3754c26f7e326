import { UserError } from '../src/errors.js';

/**
 * Thrown by a command whose arguments do not fit its usage. `dispatch` owns the reply: the
 * `detail` sentence when there is one (what exactly is wrong), then `usage: <help.usage>` and
 * the command's first example, so the usage shown is always the one `help` shows.
 */
export class UsageError extends UserError {
  constructor(readonly detail?: string) {
    super('bad_request', detail ?? 'wrong arguments');
  }
}
