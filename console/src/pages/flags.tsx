import { useEffect, useState } from 'preact/hooks';
import type { components } from '../../../client/schema.js';
import { call } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { formatDate } from '../i18n.js';

type Flags = components['schemas']['AuditFlagsDto'];

/** Signals over the last 24 hours (or a chosen window): denied bursts, empty searches, plaintext reads at night. */
export function FlagsPage() {
  const { client, t, lang } = useSession();
  const [flags, setFlags] = useState<Flags | null>(null);
  const [hours, setHours] = useState(24);
  const { busy, error, run } = useAction();
  const load = (windowHours: number) =>
    run(async () => {
      const to = new Date();
      const from = new Date(to.getTime() - windowHours * 3_600_000);
      setFlags(await call(client.GET('/v1/audit/flags', { params: { query: { from: from.toISOString(), to: to.toISOString() } } })));
    });
  useEffect(() => void load(hours), []);

  return (
    <Section title={t('nav.flags')}>
      <p class="muted">{t('flags.help')}</p>
      <form
        class="inline"
        onSubmit={(event) => {
          event.preventDefault();
          void load(hours);
        }}
      >
        <label>
          {t('flags.window')}
          <select name="hours" value={String(hours)} onChange={(e) => setHours(Number(e.currentTarget.value))}>
            <option value="24">24 h</option>
            <option value="168">7 d</option>
            <option value="720">30 d</option>
          </select>
        </label>
        <button type="submit" disabled={busy}>
          {t('filter.apply')}
        </button>
      </form>
      <ErrorBox error={error} />
      {flags && (
        <>
          <h3>
            {t('flags.denied')} ({flags.deniedBursts.total})
          </h3>
          {flags.deniedBursts.items.length === 0 ? (
            <p>{t('flags.none')}</p>
          ) : (
            <ul data-testid="flags-denied">
              {flags.deniedBursts.items.map((burst) => (
                <li>
                  <strong>{burst.actor.name}</strong> ({burst.actor.kind}): {burst.denied} · {formatDate(burst.windowStart, lang)}
                </li>
              ))}
            </ul>
          )}
          <h3>
            {t('flags.emptySearches')} ({flags.emptySearches.total})
          </h3>
          {flags.emptySearches.items.length === 0 ? (
            <p>{t('flags.none')}</p>
          ) : (
            <ul>
              {flags.emptySearches.items.map((search) => (
                <li>
                  #{search.seq} · {formatDate(search.at, lang)} · <strong>{search.actor.name}</strong> · {search.searchBy ?? '—'}
                </li>
              ))}
            </ul>
          )}
          <h3>
            {t('flags.night')} ({flags.afterHoursReads.total}) <small>{`${flags.officeHours.start}–${flags.officeHours.end} ${flags.officeHours.timeZone}`}</small>
          </h3>
          {flags.afterHoursReads.items.length === 0 ? (
            <p>{t('flags.none')}</p>
          ) : (
            <ul>
              {flags.afterHoursReads.items.map((read) => (
                <li>
                  #{read.seq} · {formatDate(read.at, lang)} · <strong>{read.actor.name}</strong> · {read.action} · {read.customerId ?? '—'} · {read.revealed.join(', ')}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </Section>
  );
}
