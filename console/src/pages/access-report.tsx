import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorBox, EventTable, Section, useAction, type AuditEvent } from '../components.js';
import { useSession } from '../context.js';

/** Every event about one customer, allowed and denied, with the fields revealed and masked. */
export function AccessReportPage() {
  const { client, t } = useSession();
  const [customerId, setCustomerId] = useState('');
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const { busy, error, run } = useAction();

  const show = (event: Event) => {
    event.preventDefault();
    void run(async () => {
      const all: AuditEvent[] = [];
      let cursor: string | undefined;
      // At most 10 pages of 1000 here; the export serves longer histories.
      for (let page = 0; page < 10; page++) {
        const answer = await call(client.GET('/v1/customers/{id}/access-report', { params: { path: { id: customerId.trim() }, query: { limit: 1000, ...(cursor ? { cursor } : {}) } } }));
        all.push(...answer.events);
        if (answer.nextCursor === null) break;
        cursor = answer.nextCursor;
      }
      setEvents(all);
    });
  };

  return (
    <Section title={t('nav.report')}>
      <form class="inline" onSubmit={show}>
        <label>
          {t('report.customer')}
          <input name="customerId" value={customerId} onInput={(e) => setCustomerId(e.currentTarget.value)} required autocomplete="off" />
        </label>
        <button type="submit" disabled={busy}>
          {t('report.show')}
        </button>
      </form>
      <ErrorBox error={error} />
      {events !== null && (events.length === 0 ? <p>{t('report.none')}</p> : <EventTable events={events} caption={`${t('nav.report')}: ${customerId}`} />)}
    </Section>
  );
}
