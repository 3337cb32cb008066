import { Principal } from '../principals/principal.entity.js';

/**
 * Every TypeORM entity of the vault, listed explicitly (no globs: they do not work the same in ESM,
 * tests and the compiled build). Feature modules add theirs here.
 */
export const ENTITIES: Function[] = [Principal];
