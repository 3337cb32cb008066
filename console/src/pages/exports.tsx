import { useState } from 'preact/hooks';
import { download } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { AuditFilterForm, type AuditFilters } from './audit-filters.js';

/** NDJSON and CSV exports of the filtered log, downloaded with the bearer token in a header. */
export function ExportsPage() {
  const { token, t } = useSession();
  const [filters, setFilters] = useState<AuditFilters>({});
  const { busy, error, run } = useAction();
  const fetchExport = (format: 'ndjson' | 'csv') =>
    run(async () => {
      const query = new URLSearchParams({ ...(filters as Record<string, string>), format });
      await download(token, `/v1/audit/export?${query.toString()}`, `audit-events.${format}`);
    });
  return (
    <Section title={t('nav.exports')}>
      <p class="muted">{t('exports.help')}</p>
      <AuditFilterForm onApply={setFilters} />
      <div class="toolbar">
        <button type="button" disabled={busy} onClick={() => void fetchExport('ndjson')}>
          {t('exports.ndjson')}
        </button>
        <button type="button" disabled={busy} onClick={() => void fetchExport('csv')}>
          {t('exports.csv')}
        </button>
      </div>
      <ErrorBox error={error} />
    </Section>
  );
}
