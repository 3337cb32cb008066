import { useState } from 'preact/hooks';
import type { components } from '../../../client/schema.js';
import { call } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { formatDate } from '../i18n.js';

type VerifyReport = components['schemas']['VerifyReportDto'];
type PublicKey = components['schemas']['PublicKeyDto'];

/** The chain's state at a glance: a green or red badge, the first bad seq, the checkpoints and the keys. */
export function VerifyPage() {
  const { client, t, lang } = useSession();
  const [report, setReport] = useState<VerifyReport | null>(null);
  const [keys, setKeys] = useState<PublicKey | null>(null);
  const { busy, error, run } = useAction();

  const verify = () =>
    run(async () => {
      const [verified, key] = await Promise.all([call(client.GET('/v1/audit/verify')), call(client.GET('/v1/audit/public-key'))]);
      setReport(verified);
      setKeys(key);
    });

  return (
    <Section title={t('nav.verify')}>
      <button type="button" onClick={() => void verify()} disabled={busy}>
        {t('verify.run')}
      </button>
      {busy && <p class="muted">{t('loading')}</p>}
      <ErrorBox error={error} />
      {report && (
        <div class="verify">
          <p class={`status-badge ${report.valid ? 'ok' : 'bad'}`} role="status" data-testid="verify-badge">
            {report.valid ? t('verify.intact') : t('verify.broken')}
            {!report.valid && report.firstInvalidSeq !== undefined && ` — ${t('verify.firstBad')}: ${report.firstInvalidSeq}`}
          </p>
          <dl>
            <dt>{t('verify.checked')}</dt>
            <dd>{report.checked}</dd>
            <dt>{t('verify.head')}</dt>
            <dd>
              {report.head.seq} <code>{report.head.hash ?? '—'}</code>
            </dd>
            {report.problem && (
              <>
                <dt>{t('verify.problem')}</dt>
                <dd>
                  <code>{report.problem}</code>
                </dd>
              </>
            )}
            <dt>{t('verify.checkpointsDb')}</dt>
            <dd>{report.checkpoints.database}</dd>
            <dt>{t('verify.checkpointsFile')}</dt>
            <dd>{report.checkpoints.file}</dd>
            {report.lastCheckpoint && (
              <>
                <dt>{t('verify.lastCheckpoint')}</dt>
                <dd>
                  {report.lastCheckpoint.seq} · {formatDate(report.lastCheckpoint.at, lang)} · <code>{report.lastCheckpoint.keyId}</code>
                </dd>
              </>
            )}
          </dl>
        </div>
      )}
      {keys && (
        <>
          <h3>{t('verify.keys')}</h3>
          <ul class="keys">
            <li>
              <code>{keys.keyId}</code> ({t('verify.current')}, {keys.algorithm})
            </li>
            {keys.previousKeys.map((key) => (
              <li key={key.keyId}>
                <code>{key.keyId}</code> · {formatDate(key.createdAt, lang)}
              </li>
            ))}
          </ul>
        </>
      )}
    </Section>
  );
}
