import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { formatDate } from '../i18n.js';

/** The signed subject-access report as the API returns it (the parts this page shows). */
interface SubjectAccess {
  report: {
    customerId: string;
    generatedAt: string;
    data: Record<string, unknown>;
    consentHistory: unknown[];
    disclosures: unknown[];
    accesses: unknown[];
    restriction: { reason: string; since: string } | null;
  };
  signature: { alg: string; keyId: string; value: string };
}

interface Disclosure {
  id: string;
  recipient: { name: string; country: string };
  legalBasis: string;
  reference: string | null;
  crossBorder: boolean;
  fields: string[];
  disclosedAt: string;
}

/**
 * Privacy officers' customer requests: the signed subject-access report (view, download, signature),
 * the disclosure register, restriction of processing, and erasure behind a typed confirmation.
 */
export function PrivacyPage() {
  const { client, t, lang } = useSession();
  const [customerId, setCustomerId] = useState('');
  const [reason, setReason] = useState('');
  const [report, setReport] = useState<SubjectAccess | null>(null);
  const [disclosures, setDisclosures] = useState<Disclosure[] | null>(null);
  const [confirm, setConfirm] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const id = customerId.trim();
  const headers = { 'X-Access-Purpose': 'customer_request', 'X-Access-Reason': reason.trim() };

  const buildReport = () =>
    run(async () => {
      setReport((await call(client.GET('/v1/customers/{id}/subject-access', { params: { path: { id } }, headers }))) as unknown as SubjectAccess);
      setDisclosures(((await call(client.GET('/v1/customers/{id}/disclosures', { params: { path: { id } } }))) as unknown as { disclosures: Disclosure[] }).disclosures);
    });
  const downloadReport = () => {
    if (report === null) return;
    const url = URL.createObjectURL(new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `subject-access-${report.report.customerId}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const restrict = (on: boolean) =>
    run(async () => {
      if (on) await call(client.PUT('/v1/customers/{id}/restriction', { params: { path: { id } }, body: { reason: reason.trim() } }));
      else await call(client.DELETE('/v1/customers/{id}/restriction', { params: { path: { id } } }));
      setDone(on ? t('privacy.restrict') : t('privacy.unrestrict'));
    });
  const erase = () =>
    run(async () => {
      await call(client.DELETE('/v1/customers/{id}', { params: { path: { id } } }));
      setConfirm('');
      setReport(null);
      setDone(t('privacy.erased'));
    });

  return (
    <Section title={t('nav.privacy')}>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          void buildReport();
        }}
      >
        <label>
          {t('privacy.customer')}
          <input name="customerId" value={customerId} onInput={(e) => setCustomerId(e.currentTarget.value)} required autocomplete="off" />
        </label>
        <label>
          {t('privacy.reason')}
          <input name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} required autocomplete="off" maxLength={200} />
        </label>
        <button type="submit" disabled={busy}>
          {t('privacy.sarRun')}
        </button>
      </form>
      <ErrorBox error={error} />
      {done && (
        <p role="status" class="badge">
          {done}
        </p>
      )}
      {report && (
        <>
          <h3>{t('privacy.sar')}</h3>
          <dl>
            <dt>{t('col.at')}</dt>
            <dd>{formatDate(report.report.generatedAt, lang)}</dd>
            <dt>{t('privacy.signature')}</dt>
            <dd data-testid="sar-signature">
              {report.signature.alg} · <code>{report.signature.keyId}</code> · <code>{report.signature.value}</code>
            </dd>
            <dt>{t('nav.events')}</dt>
            <dd>{report.report.accesses.length}</dd>
            <dt>{t('privacy.disclosures')}</dt>
            <dd>{report.report.disclosures.length}</dd>
          </dl>
          <button type="button" onClick={downloadReport}>
            {t('privacy.download')}
          </button>
        </>
      )}
      {disclosures && (
        <div class="table-wrap">
          <table>
            <caption>{t('privacy.disclosures')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('col.at')}</th>
                <th scope="col">{t('privacy.recipient')}</th>
                <th scope="col">{t('privacy.basis')}</th>
                <th scope="col">{t('col.revealed')}</th>
              </tr>
            </thead>
            <tbody>
              {disclosures.map((d) => (
                <tr key={d.id}>
                  <td>{formatDate(d.disclosedAt, lang)}</td>
                  <td>
                    {d.recipient.name} ({d.recipient.country}){d.crossBorder ? ' ⚑' : ''}
                  </td>
                  <td>
                    {d.legalBasis}
                    {d.reference ? ` · ${d.reference}` : ''}
                  </td>
                  <td>{d.fields.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>{t('privacy.restriction')}</h3>
      <div class="toolbar">
        <button type="button" disabled={busy || id === '' || reason.trim() === ''} onClick={() => void restrict(true)}>
          {t('privacy.restrict')}
        </button>
        <button type="button" disabled={busy || id === ''} onClick={() => void restrict(false)}>
          {t('privacy.unrestrict')}
        </button>
      </div>
      <h3>{t('privacy.erase')}</h3>
      <label>
        {t('privacy.eraseConfirm')}
        <input name="confirm" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} autocomplete="off" />
      </label>
      <button type="button" disabled={busy || id === '' || confirm !== 'ERASE'} onClick={() => void erase()}>
        {t('privacy.erase')}
      </button>
    </Section>
  );
}
