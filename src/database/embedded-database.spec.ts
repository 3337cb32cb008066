import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { firstUnreachableAncestor, type SystemUser } from './embedded-database.js';

/** Real directories with real modes; the user is described, so no test needs to run as another user. */
describe('firstUnreachableAncestor', () => {
  const top = mkdtempSync(path.join(os.tmpdir(), 'cv-reach-'));
  afterAll(() => rmSync(top, { recursive: true, force: true }));
  const stranger: SystemUser = { uid: 4_000_001, gids: [4_000_001] };

  it('finds nothing when every ancestor may be entered by others', () => {
    const open = path.join(top, 'open', 'a');
    mkdirSync(open, { recursive: true });
    chmodSync(top, 0o755);
    chmodSync(path.join(top, 'open'), 0o755);
    expect(firstUnreachableAncestor(path.join(open, 'var'), stranger)).toBeUndefined();
  });

  it('names the first directory that the user cannot enter, with its mode', () => {
    const closed = path.join(top, 'closed');
    mkdirSync(path.join(closed, 'inner'), { recursive: true });
    chmodSync(closed, 0o700);
    const blocked = firstUnreachableAncestor(path.join(closed, 'inner', 'var'), stranger);
    expect(blocked).toEqual({ path: closed, mode: 0o700, ownerUid: statSync(closed).uid });
  });

  it('lets the owner through the owner bits and a member through the group bits', () => {
    const owned = path.join(top, 'owned');
    mkdirSync(owned, { recursive: true });
    chmodSync(owned, 0o710);
    const stat = statSync(owned);
    expect(firstUnreachableAncestor(path.join(owned, 'var'), { uid: stat.uid, gids: [] })).toBeUndefined();
    expect(firstUnreachableAncestor(path.join(owned, 'var'), { uid: stranger.uid, gids: [stat.gid] })).toBeUndefined();
    expect(firstUnreachableAncestor(path.join(owned, 'var'), stranger)?.path).toBe(owned);
  });

  it('counts only the "other" bits for a user that does not exist yet; directories still to be created pass', () => {
    const group = path.join(top, 'group-only');
    mkdirSync(group, { recursive: true });
    chmodSync(group, 0o770);
    expect(firstUnreachableAncestor(path.join(group, 'var'), undefined)?.path).toBe(group);
    expect(firstUnreachableAncestor(path.join(top, 'open', 'not', 'yet', 'made'), undefined)).toBeUndefined();
  });
});
