import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { VaultClient } from '../../client/index.js';
import type { components } from '../../client/schema.js';
import type { Key, Lang } from './i18n.js';

export type Self = components['schemas']['SelfDto'];

/** What every page needs: the signed-in principal, its client and token, and the language. */
export interface Session {
  client: VaultClient;
  token: string;
  me: Self;
  lang: Lang;
  t: (key: Key) => string;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a signed-in console');
  return session;
}

export function hasRole(me: Self, ...roles: Self['roles']): boolean {
  return me.roles.some((role) => roles.includes(role));
}
