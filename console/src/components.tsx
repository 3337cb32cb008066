import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiFailure } from './api.js';
import { useSession } from './context.js';
import { formatDate } from './i18n.js';
import type { components } from '../../client/schema.js';

export type AuditEvent = components['schemas']['AuditEventDto'];

/** Every failure is shown with the vault's message and request id, never as a blank screen. */
export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useSession();
  if (error === null || error === undefined) return null;
  const failure = error instanceof ApiFailure ? error : new ApiFailure(0, 'unexpected', String(error), null);
  return (
    <div class="error" role="alert">
      <strong>{t('error.title')}</strong>
      <p>
        {failure.status > 0 ? `${failure.status} ${failure.code}: ${failure.message}` : failure.code === 'network' ? t('error.network') : failure.message}
      </p>
      {failure.requestId && (
        <p>
          {t('error.requestId')}: <code>{failure.requestId}</code>
        </p>
      )}
    </div>
  );
}

/** Runs an async action, tracking busy state and the last failure. */
export function useAction(): { busy: boolean; error: unknown; run: (action: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function Outcome({ outcome }: { outcome: AuditEvent['outcome'] }) {
  const { t } = useSession();
  return <span class={`badge outcome-${outcome}`}>{t(`outcome.${outcome}`)}</span>;
}

/** The audit events as a table: a timeline when `timeline` (newest last, as they happened). */
export function EventTable({ events, caption }: { events: AuditEvent[]; caption: string }) {
  const { t, lang } = useSession();
  return (
    <div class="table-wrap">
      <table>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t('col.seq')}</th>
            <th scope="col">{t('col.at')}</th>
            <th scope="col">{t('col.actor')}</th>
            <th scope="col">{t('col.action')}</th>
            <th scope="col">{t('col.resource')}</th>
            <th scope="col">{t('col.purpose')}</th>
            <th scope="col">{t('col.outcome')}</th>
            <th scope="col">{t('col.status')}</th>
            <th scope="col">{t('col.revealed')}</th>
            <th scope="col">{t('col.masked')}</th>
            <th scope="col">{t('col.written')}</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.seq} data-seq={event.seq} class={`row-${event.outcome}`}>
              <td>{event.seq}</td>
              <td>{formatDate(event.at, lang)}</td>
              <td>
                {event.actor.name} <small>({event.actor.kind}{event.actor.roles.length > 0 ? `: ${event.actor.roles.join(', ')}` : ''})</small>
              </td>
              <td>{event.action}</td>
              <td>
                {event.resource.type}
                {event.resource.id ? <small> {event.resource.id}</small> : null}
              </td>
              <td>{event.purpose ?? '—'}</td>
              <td>
                <Outcome outcome={event.outcome} />
              </td>
              <td>{event.status}</td>
              <td>{event.fields.revealed.join(', ') || '—'}</td>
              <td>{event.fields.masked.join(', ') || '—'}</td>
              <td>{event.fields.written.join(', ') || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
