/**
 * The part of `zulip-js` (2.x, untyped CommonJS) that Bosun calls. Every method resolves with
 * Zulip's JSON answer (`result` is `success` or `error`, with `msg` and often `code`), also on
 * HTTP errors; it rejects only when the server is unreachable or answers non-JSON.
 */
declare module 'zulip-js' {
  type ZulipAnswer = Record<string, unknown> & { result?: string; msg?: string; code?: string };
  type Params = Record<string, unknown>;
  interface ZulipJsClient {
    config: { apiURL: string; username: string; apiKey: string; realm: string };
    messages: {
      send(params: Params): Promise<ZulipAnswer>;
      retrieve(params: Params): Promise<ZulipAnswer>;
      getById(params: Params): Promise<ZulipAnswer>;
    };
    queues: {
      register(params: Params): Promise<ZulipAnswer>;
      deregister(params: Params): Promise<ZulipAnswer>;
    };
    reactions: { add(params: Params): Promise<ZulipAnswer> };
    users: { me: { getProfile(): Promise<ZulipAnswer> } };
  }
  function zulipInit(config: { realm: string; username: string; apiKey: string }): Promise<ZulipJsClient>;
  export = zulipInit;
}
