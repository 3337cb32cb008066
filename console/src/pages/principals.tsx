import { useEffect, useState } from 'preact/hooks';
import type { components } from '../../../client/schema.js';
import { call } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { formatDate } from '../i18n.js';

type Principal = components['schemas']['PrincipalDto'];
type Created = components['schemas']['CreatedPrincipalDto'];
type Role = Principal['roles'][number];

const ROLES: Role[] = ['admin', 'ingest', 'billing', 'support', 'marketing', 'security', 'privacy'];

/** Create (token shown once, with a copy button), list and revoke principals. */
export function PrincipalsPage() {
  const { client, t, lang } = useSession();
  const [principals, setPrincipals] = useState<Principal[]>([]);
  const [created, setCreated] = useState<Created | null>(null);
  const [copied, setCopied] = useState(false);
  const [form, setForm] = useState<{ name: string; kind: 'service' | 'staff'; roles: Role[] }>({ name: '', kind: 'staff', roles: [] });
  const { busy, error, run } = useAction();

  const refresh = () => run(async () => setPrincipals((await call(client.GET('/v1/principals'))).principals));
  useEffect(() => void refresh(), []);

  const create = (event: Event) => {
    event.preventDefault();
    void run(async () => {
      setCreated(await call(client.POST('/v1/principals', { body: form })));
      setCopied(false);
      setForm({ name: '', kind: 'staff', roles: [] });
      setPrincipals((await call(client.GET('/v1/principals'))).principals);
    });
  };
  const revoke = (id: string) =>
    run(async () => {
      await call(client.DELETE('/v1/principals/{id}', { params: { path: { id } } }));
      setPrincipals((await call(client.GET('/v1/principals'))).principals);
    });
  const toggleRole = (role: Role) => setForm({ ...form, roles: form.roles.includes(role) ? form.roles.filter((r) => r !== role) : [...form.roles, role] });

  return (
    <Section title={t('nav.principals')}>
      <form class="filters" onSubmit={create}>
        <label>
          {t('principals.name')}
          <input name="name" value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} required autocomplete="off" />
        </label>
        <label>
          {t('principals.kind')}
          <select name="kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.currentTarget.value as 'service' | 'staff' })}>
            <option value="staff">staff</option>
            <option value="service">service</option>
          </select>
        </label>
        <fieldset>
          <legend>{t('principals.roles')}</legend>
          {ROLES.map((role) => (
            <label class="check">
              <input type="checkbox" name="roles" value={role} checked={form.roles.includes(role)} onChange={() => toggleRole(role)} />
              {role}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy}>
          {t('principals.create')}
        </button>
      </form>
      {created?.token !== undefined && (
        <div class="token-once" role="status">
          <p>
            <strong>{t('principals.tokenOnce')}</strong>
          </p>
          <code data-testid="new-token">{created.token}</code>{' '}
          <button
            type="button"
            onClick={() => {
              void navigator.clipboard?.writeText(created.token ?? '').then(() => setCopied(true), () => setCopied(false));
            }}
          >
            {copied ? t('principals.copied') : t('principals.copy')}
          </button>{' '}
          <button type="button" onClick={() => setCreated(null)}>
            {t('close')}
          </button>
        </div>
      )}
      <ErrorBox error={error} />
      <div class="table-wrap">
        <table>
          <caption>{t('nav.principals')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('principals.name')}</th>
              <th scope="col">{t('principals.kind')}</th>
              <th scope="col">{t('principals.roles')}</th>
              <th scope="col">{t('principals.created')}</th>
              <th scope="col">{t('keys.state')}</th>
              <th scope="col"><span class="visually-hidden">{t('principals.revoke')}</span></th>
            </tr>
          </thead>
          <tbody>
            {principals.map((principal) => (
              <tr key={principal.id}>
                <td>{principal.name}</td>
                <td>{principal.kind}</td>
                <td>{principal.roles.join(', ')}</td>
                <td>{formatDate(principal.createdAt, lang)}</td>
                <td>{principal.revokedAt ? `${t('principals.revoked')} ${formatDate(principal.revokedAt, lang)}` : t('principals.active')}</td>
                <td>
                  {!principal.revokedAt && (
                    <button type="button" onClick={() => void revoke(principal.id)} disabled={busy} aria-label={`${t('principals.revoke')} ${principal.name}`}>
                      {t('principals.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}
