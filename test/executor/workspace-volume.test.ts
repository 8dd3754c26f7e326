import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkspaceVolumes, workspaceReadyFile } from '../../src/executor/container/workspace-volume.js';
import { workspaceMarkerName, workspaceVolumeName } from '../../src/executor/container/resource-names.js';
import { busyboxImage, engineForTests, testInstanceId } from './docker-harness.js';
import { makeWorkspace, runId } from './contract-support.js';

const docker = await engineForTests(false);

/** A checkout with the awkward cases: nesting, dotfiles, modes, and symlinks out of the tree. */
function awkwardWorkspace(): string {
  const dir = makeWorkspace();
  mkdirSync(join(dir, 'deep', 'er'), { recursive: true });
  writeFileSync(join(dir, 'deep', 'er', '.hidden'), 'dot\n');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho ran\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(join(dir, 'secret-mode'), 'x');
  chmodSync(join(dir, 'secret-mode'), 0o600);
  symlinkSync('/etc/passwd', join(dir, 'passwd-link'));
  symlinkSync('deep/er', join(dir, 'dir-link'));
  return dir;
}

/** What a step sees: every entry's owner, mode, type and link target, as `find` prints them. */
async function listing(volume: string): Promise<string> {
  const container = await docker!.createContainer({
    Image: (await docker!.getImage(busyboxImage).inspect()).Id,
    User: '1000:1000',
    Cmd: [
      'sh',
      '-c',
      'cd /workspace && find . | sort | while read -r p; do printf "%s %s %s\\n" "$(stat -c "%u:%g %a %F" "$p")" "$p" "$(readlink "$p")"; done; test -w . && echo writable',
    ],
    NetworkDisabled: true,
    HostConfig: { AutoRemove: false, Mounts: [{ Type: 'volume', Source: volume, Target: '/workspace' }] },
  });
  try {
    await container.start();
    await container.wait();
    const raw = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    // Strip the 8-byte multiplexing headers.
    const out: Buffer[] = [];
    for (let at = 0; at + 8 <= raw.length; at += 8 + raw.readUInt32BE(at + 4)) out.push(raw.subarray(at + 8, at + 8 + raw.readUInt32BE(at + 4)));
    return Buffer.concat(out).toString();
  } finally {
    await container.remove({ force: true });
  }
}

describe('WorkspaceVolumes: the host copy and the helper container fill a volume alike', { skip: !docker }, () => {
  const built: Array<[WorkspaceVolumes, string]> = [];
  after(async () => {
    for (const [volumes, buildId] of built) await volumes.remove(buildId);
  });
  const fill = async (mode: 'auto' | 'helper', workspace: string, buildId = `wv${runId}${mode}`) => {
    const volumes = new WorkspaceVolumes(docker!, testInstanceId, { fill: mode });
    built.push([volumes, buildId]);
    return { volume: await volumes.ensure(buildId, workspace, (await docker!.getImage(busyboxImage).inspect()).Id), volumes, buildId };
  };

  it('same files, owners, modes and symlinks either way; symlink targets untouched on the host', async () => {
    const workspace = awkwardWorkspace();
    const passwdOwner = statSync('/etc/passwd').uid;

    const direct = await fill('auto', workspace);
    const helper = await fill('helper', workspace);
    const [seenDirect, seenHelper] = [await listing(direct.volume), await listing(helper.volume)];

    assert.equal(seenDirect, seenHelper);
    assert.match(seenDirect, /^1000:1000 755 regular file \.\/run\.sh $/m);
    assert.match(seenDirect, /^1000:1000 600 regular file \.\/secret-mode $/m);
    assert.match(seenDirect, /^1000:1000 777 symbolic link \.\/passwd-link \/etc\/passwd$/m);
    assert.match(seenDirect, /^1000:1000 644 regular file \.\/deep\/er\/\.hidden $/m);
    assert.match(seenDirect, new RegExp(`^1000:1000 644 regular empty file \\./${workspaceReadyFile.replace('.', '\\.')} $`, 'm'));
    assert.match(seenDirect, /^writable$/m);
    assert.equal(statSync('/etc/passwd').uid, passwdOwner);
    // Only the helper way leaves a marker container.
    const markers = await docker!.listContainers({
      all: true,
      filters: JSON.stringify({ name: [workspaceMarkerName(testInstanceId, direct.buildId), workspaceMarkerName(testInstanceId, helper.buildId)] }),
    });
    assert.deepEqual(
      markers.map((m) => m.Names[0]),
      [`/${workspaceMarkerName(testInstanceId, helper.buildId)}`],
    );
  });

  it('remove takes the volume either way, and the marker container the helper way left', async () => {
    const workspace = awkwardWorkspace();
    for (const mode of ['auto', 'helper'] as const) {
      const { volumes, buildId } = await fill(mode, workspace, `wv${runId}rm${mode}`);

      await volumes.remove(buildId);
      await volumes.remove(buildId);

      const left = await docker!.listVolumes({ filters: JSON.stringify({ name: [workspaceVolumeName(testInstanceId, buildId)] }) });
      assert.deepEqual(left.Volumes ?? [], [], mode);
      const markers = await docker!.listContainers({ all: true, filters: JSON.stringify({ name: [workspaceMarkerName(testInstanceId, buildId)] }) });
      assert.deepEqual(markers, [], mode);
    }
  });

  it('two processes filling one volume at once both finish, and it is complete', async () => {
    const workspace = awkwardWorkspace();
    const image = (await docker!.getImage(busyboxImage).inspect()).Id;
    const buildId = `wv${runId}race`;
    const [a, b] = [new WorkspaceVolumes(docker!, testInstanceId), new WorkspaceVolumes(docker!, testInstanceId)];
    built.push([a, buildId]);

    const [va, vb] = await Promise.all([a.ensure(buildId, workspace, image), b.ensure(buildId, workspace, image)]);

    assert.equal(va, vb);
    const reference = await fill('helper', workspace, `wv${runId}raceref`);
    assert.equal(await listing(va), await listing(reference.volume));
  });

  it('a fill that died mid-copy (staging left, no .git) is redone by the next one', async () => {
    const workspace = awkwardWorkspace();
    const buildId = `wv${runId}crash`;
    const volume = workspaceVolumeName(testInstanceId, buildId);
    const created = await docker!.createVolume({ Name: volume });
    const data = ((await created.inspect()) as { Mountpoint: string }).Mountpoint;
    // What a crash leaves: a staging directory beside the data, and a part of the tree renamed in.
    await mkdir(join(dirname(data), 'bosun-fill-dead'), { recursive: true });
    await writeFile(join(data, 'README'), 'the checkout\n');

    const { volume: filled } = await fill('auto', workspace, buildId);

    assert.equal(filled, volume);
    const reference = await fill('helper', workspace, `wv${runId}crashref`);
    assert.equal(await listing(filled), await listing(reference.volume));
    assert.ok((await readdir(data)).includes('.git'));
  });
});
