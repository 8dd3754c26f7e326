import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Demuxer } from '../../src/executor/container/demuxer.js';
import { OutputQueue } from '../../src/executor/output-queue.js';
import { stepScript } from '../../src/executor/step-script.js';

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('Demuxer', () => {
  it('yields every payload byte once, tagged, however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 40 }))), fc.array(fc.nat(60), { maxLength: 20 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map(([t, p]) => frame(t, Buffer.from(p))));
        const got = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
        const demuxer = new Demuxer((stream, data) => got[stream].push(Buffer.from(data)));
        let at = 0;
        for (const cut of cuts) {
          demuxer.write(wire.subarray(at, Math.min(wire.length, at + cut)));
          at = Math.min(wire.length, at + cut);
        }
        demuxer.write(wire.subarray(at));

        const want = (type: number): Buffer => Buffer.concat(frames.filter(([t]) => t === type).map(([, p]) => Buffer.from(p)));
        assert.deepEqual(Buffer.concat(got.stdout), want(1));
        assert.deepEqual(Buffer.concat(got.stderr), want(2));
        assert.equal(demuxer.pendingBytes, 0);
      }),
    );
  });
});

describe('OutputQueue', () => {
  it('pauses sources above the high-water mark and resumes them once drained', async () => {
    const queue = new OutputQueue(10);
    const calls: string[] = [];
    queue.addSource({ pause: () => calls.push('pause'), resume: () => calls.push('resume') });

    queue.push('stdout', Buffer.from('0123456789ab'));
    queue.push('stderr', Buffer.from('x'));
    queue.end();
    const chunks = [];
    for await (const chunk of queue) chunks.push(chunk);

    assert.deepEqual(calls, ['pause', 'resume']);
    assert.deepEqual(
      chunks.map((c) => [c.stream, c.data.toString()]),
      [
        ['stdout', '0123456789ab'],
        ['stderr', 'x'],
      ],
    );
  });

  it('ends with the error given to fail() after the buffered chunks', async () => {
    const queue = new OutputQueue();
    queue.push('stdout', Buffer.from('a'));
    queue.fail(new Error('boom'));
    const seen: string[] = [];

    await assert.rejects(async () => {
      for await (const chunk of queue) seen.push(chunk.data.toString());
    }, /boom/);
    assert.deepEqual(seen, ['a']);
  });
});

describe('stepScript', () => {
  it('echoes each command literally before running it, whatever quotes or expansions it holds', () => {
    const commands = [`echo "it's $HOME"`, 'printf "%s\\n" \'$(whoami)\'', 'x=1; echo $x'];

    const out = execFileSync('/bin/sh', ['-e', '-c', stepScript(commands)], { env: { HOME: '/h', PATH: process.env.PATH } }).toString();

    assert.equal(out, [`+ echo "it's $HOME"`, "it's /h", `+ printf "%s\\n" '$(whoami)'`, '$(whoami)', '+ x=1; echo $x', '1', ''].join('\n'));
  });

  it('with waitFor, runs nothing until the file exists, and says nothing about waiting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bosun-wait-'));
    const ready = join(dir, "it's ready");
    const child = spawn('/bin/sh', ['-e', '-c', stepScript(['echo ran'], ready)]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(out, '', 'nothing ran before the file existed');
    assert.equal(child.exitCode, null, 'still waiting');
    writeFileSync(ready, '');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0);
    assert.equal(out, '+ echo ran\nran\n');
    rmSync(dir, { recursive: true, force: true });
  });
});
