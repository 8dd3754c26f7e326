import type { Actor } from '../../../domain/build.js';
import { html, SafeHtml } from '../html.js';

/** Everything every page shows around its content. */
export interface PageFrame {
  title: string;
  actor: Actor | null;
  /** A one-line result of the last action (`?notice=`), shown once. */
  notice?: string;
  /** `error` colours the notice as a refusal. */
  noticeKind?: 'ok' | 'error';
  /** Adds the log viewer's script. */
  script?: boolean;
}

export function layout(frame: PageFrame, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${frame.title} · Bosun</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${styles}</style>
</head>
<body>
<header><a class="brand" href="/">⚓ Bosun</a><nav><a href="/">Builds</a><a href="/approvals">Approvals</a><a href="/leases">Leases</a><a href="/environments">Environments</a></nav>
<span class="who">${frame.actor ? html`signed in as <b>${frame.actor.name}</b>` : 'signed out (read-only)'}</span></header>
<main>
${frame.notice ? html`<p class="notice ${frame.noticeKind ?? 'ok'}" role="status">${frame.notice}</p>` : ''}
${body}
</main>
${frame.script ? html`<script src="/assets/console.js" defer></script>` : ''}
</body>
</html>
`.value;
}

const stylesText = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #17324d; color: #fff; padding: 8px 20px; display: flex; gap: 24px; align-items: center; }
header a { color: #fff; text-decoration: none; } header .brand { font-weight: 700; }
header nav { display: flex; gap: 16px; } header .who { margin-left: auto; opacity: .85; }
main { padding: 16px 20px; max-width: 1400px; }
h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
td, th { padding: 6px 10px; border-bottom: 1px solid #e3e6eb; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #57606a; background: #fafbfc; }
code { font: 12px ui-monospace, monospace; }
.st { font-weight: 600; }
.success { color: #1a7f37; } .failed, .failed_infra { color: #cf222e; } .running, .queued { color: #9a6700; }
.cancelled, .skipped, .pending { color: #6e7781; } .waiting { color: #8250df; }
.notice { padding: 8px 12px; border-radius: 4px; background: #dafbe1; } .notice.error { background: #ffebe9; }
.muted { color: #6e7781; }
form.filters { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 10px; align-items: end; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #57606a; }
input, select, button { font: inherit; padding: 3px 8px; }
form.inline { display: inline; } button.approve { color: #1a7f37; } button.reject { color: #cf222e; }
.pager { margin-top: 10px; display: flex; gap: 16px; }
.graph { display: flex; gap: 28px; overflow-x: auto; padding: 8px 0; }
.graph .col { display: flex; flex-direction: column; gap: 10px; }
.stage { background: #fff; border: 1px solid #d0d7de; border-left: 4px solid #d0d7de; border-radius: 4px; padding: 6px 10px; min-width: 170px; }
.stage.success { border-left-color: #1a7f37; } .stage.failed, .stage.failed_infra { border-left-color: #cf222e; }
.stage.running, .stage.queued { border-left-color: #9a6700; } .stage.waiting { border-left-color: #8250df; }
.stage .name { font-weight: 600; color: #1d2330; } .stage .meta { font-size: 12px; color: #57606a; }
.box { background: #fff; border: 1px solid #d0d7de; border-radius: 4px; padding: 8px 12px; margin: 8px 0; }
#logs .toolbar { position: sticky; top: 0; z-index: 2; background: #f6f7f9; padding: 6px 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
#logs .step { background: #fff; border: 1px solid #d0d7de; border-radius: 4px; margin: 6px 0; }
#logs .step-head { padding: 6px 10px; cursor: pointer; display: flex; gap: 10px; align-items: center; user-select: none; }
#logs .step-head::before { content: '▾'; color: #57606a; } #logs .step.closed .step-head::before { content: '▸'; }
#logs .step-head .key { font-weight: 600; } #logs .step-head .links { margin-left: auto; display: flex; gap: 10px; font-size: 12px; }
.viewport { position: relative; overflow: auto; background: #0d1117; color: #e6edf3; font: 12px/18px ui-monospace, SFMono-Regular, Menlo, monospace; contain: strict; }
.viewport .rows { position: absolute; top: 0; left: 0; min-width: 100%; will-change: transform; }
.ln { height: 18px; white-space: pre; padding-right: 12px; }
.ln:hover { background: #161b22; } .ln.target { background: #30363d; } .ln.hit { background: #3b2e00; }
.ln .num { display: inline-block; width: 7ch; padding-right: 1ch; text-align: right; color: #6e7781; text-decoration: none; user-select: none; }
.ln .fold, .ln .fold-pad { display: inline-block; width: 2ch; color: #8b949e; cursor: pointer; user-select: none; }
.ln.cmd .tx { color: #79c0ff; font-weight: 600; }
.ln .ts { color: #8b949e; padding-right: 1ch; user-select: none; }
.ln mark { background: #9e6a03; color: #fff; } .ln mark.cur { background: #f0883e; }
.ab { font-weight: 700; } .ad { opacity: .7; } .ai { font-style: italic; } .au { text-decoration: underline; }
.fc0 { color: #484f58; } .fc1 { color: #ff7b72; } .fc2 { color: #3fb950; } .fc3 { color: #d29922; } .fc4 { color: #58a6ff; } .fc5 { color: #bc8cff; } .fc6 { color: #39c5cf; } .fc7 { color: #b1bac4; }
.fc8 { color: #6e7681; } .fc9 { color: #ffa198; } .fc10 { color: #56d364; } .fc11 { color: #e3b341; } .fc12 { color: #79c0ff; } .fc13 { color: #d2a8ff; } .fc14 { color: #56d4dd; } .fc15 { color: #f0f6fc; }
.bc0 { background: #484f58; } .bc1 { background: #ff7b72; } .bc2 { background: #3fb950; } .bc3 { background: #d29922; } .bc4 { background: #58a6ff; } .bc5 { background: #bc8cff; } .bc6 { background: #39c5cf; } .bc7 { background: #b1bac4; }
.bc8 { background: #6e7681; } .bc9 { background: #ffa198; } .bc10 { background: #56d364; } .bc11 { background: #e3b341; } .bc12 { background: #79c0ff; } .bc13 { background: #d2a8ff; } .bc14 { background: #56d4dd; } .bc15 { background: #f0f6fc; }
.fc-bg { color: #0d1117; } .bc-fg { background: #e6edf3; }
`;

const styles = new SafeHtml(stylesText);
