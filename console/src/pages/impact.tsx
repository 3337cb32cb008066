import { useState } from 'preact/hooks';
import { call, download } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';

interface Impact {
  actor: { id: string; name: string };
  customers: number;
  byField: Record<string, { plaintext: number; masked: number }>;
}

/** What one principal could have seen over a window (GET /v1/audit/impact), for a 72-hour breach report. */
export function ImpactPage() {
  const { client, token, t } = useSession();
  const [form, setForm] = useState({ actorId: '', from: '', to: '' });
  const [impact, setImpact] = useState<Impact | null>(null);
  const { busy, error, run } = useAction();
  const query = () => ({ actorId: form.actorId.trim(), from: new Date(form.from).toISOString(), to: new Date(form.to).toISOString() });
  const compute = (event: Event) => {
    event.preventDefault();
    void run(async () => setImpact((await call(client.GET('/v1/audit/impact', { params: { query: query() } }))) as unknown as Impact));
  };
  const csv = () => run(() => download(token, `/v1/audit/impact?${new URLSearchParams({ ...query(), format: 'csv' }).toString()}`, 'breach-impact.csv'));
  return (
    <Section title={t('nav.impact')}>
      <form class="filters" onSubmit={compute}>
        <label>
          {t('impact.actor')}
          <input name="actorId" value={form.actorId} onInput={(e) => setForm({ ...form, actorId: e.currentTarget.value })} required autocomplete="off" />
        </label>
        <label>
          {t('filter.from')}
          <input type="datetime-local" name="from" value={form.from} onInput={(e) => setForm({ ...form, from: e.currentTarget.value })} required />
        </label>
        <label>
          {t('filter.to')}
          <input type="datetime-local" name="to" value={form.to} onInput={(e) => setForm({ ...form, to: e.currentTarget.value })} required />
        </label>
        <button type="submit" disabled={busy}>
          {t('impact.run')}
        </button>
      </form>
      <ErrorBox error={error} />
      {impact && (
        <>
          <p>
            <strong>{impact.actor.name}</strong> · {t('impact.customers')}: <strong data-testid="impact-customers">{impact.customers}</strong>
          </p>
          <div class="table-wrap">
            <table>
              <caption>{t('nav.impact')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('impact.field')}</th>
                  <th scope="col">{t('impact.plaintext')}</th>
                  <th scope="col">{t('impact.masked')}</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(impact.byField).map(([field, counts]) => (
                  <tr key={field}>
                    <td>{field}</td>
                    <td>{counts.plaintext}</td>
                    <td>{counts.masked}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <button type="button" disabled={busy} onClick={() => void csv()}>
            {t('exports.csv')}
          </button>
        </>
      )}
    </Section>
  );
}
