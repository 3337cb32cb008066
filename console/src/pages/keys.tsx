import { useEffect, useRef, useState } from 'preact/hooks';
import type { components } from '../../../client/schema.js';
import { call } from '../api.js';
import { ErrorBox, Section, useAction } from '../components.js';
import { useSession } from '../context.js';
import { formatDate } from '../i18n.js';

type KeyStatus = components['schemas']['KeyStatusDto'];
type Job = components['schemas']['RotationJobDto'];

/** Key versions with DEK counts, rotation with a live progress bar, retirement when nothing is left under a version. */
export function KeysPage() {
  const { client, t, lang } = useSession();
  const [status, setStatus] = useState<KeyStatus | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const { busy, error, run } = useAction();

  const refresh = async () => setStatus(await call(client.GET('/v1/keys')));
  useEffect(() => {
    void run(refresh);
    return () => window.clearTimeout(timer.current);
  }, []);

  const follow = (jobId: string) => {
    const poll = async () => {
      try {
        const current = await call(client.GET('/v1/keys/jobs/{id}', { params: { path: { id: jobId } } }));
        setJob(current);
        if (current.state === 'done' || current.state === 'failed') {
          await refresh();
          return;
        }
      } catch {
        // keep polling: a transient failure shows as a stalled bar, the next poll catches up
      }
      timer.current = window.setTimeout(() => void poll(), 500);
    };
    void poll();
  };

  const rotate = () =>
    run(async () => {
      const started = await call(client.POST('/v1/keys/rotate'));
      await refresh();
      follow(started.jobId);
    });
  const retire = (version: number) =>
    run(async () => {
      await call(client.POST('/v1/keys/{version}/retire', { params: { path: { version: String(version) } } }));
      await refresh();
    });

  const percent = job && job.total > 0 ? Math.floor((job.done / job.total) * 100) : job?.state === 'done' ? 100 : 0;
  return (
    <Section title={t('nav.keys')}>
      <ErrorBox error={error} />
      {status && (
        <dl>
          <dt>{t('keys.root')}</dt>
          <dd>
            <code>{status.rootKeyId}</code>
          </dd>
          <dt>{t('keys.active')}</dt>
          <dd>{status.activeKekVersion}</dd>
        </dl>
      )}
      <button type="button" onClick={() => void rotate()} disabled={busy || (job !== null && job.state !== 'done' && job.state !== 'failed')}>
        {t('keys.rotate')}
      </button>
      {job && (
        <div class="job" data-testid="rotation-job" data-state={job.state}>
          <label>
            {t('keys.job')} → v{job.targetVersion}: {job.state === 'done' ? t('keys.done') : job.state} ({job.done}/{job.total})
            <progress max={100} value={percent} aria-label={t('keys.progress')}>
              {percent}%
            </progress>
          </label>
          {job.error && <p class="error">{job.error}</p>}
        </div>
      )}
      {status && (
        <div class="table-wrap">
          <table>
            <caption>{t('nav.keys')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('keys.version')}</th>
                <th scope="col">{t('keys.state')}</th>
                <th scope="col">{t('keys.deks')}</th>
                <th scope="col">{t('keys.created')}</th>
                <th scope="col"><span class="visually-hidden">{t('keys.retire')}</span></th>
              </tr>
            </thead>
            <tbody>
              {status.kekVersions.map((kek) => {
                const blocked = kek.state === 'active' ? t('keys.retireActive') : kek.dekCount > 0 ? t('keys.retireBlocked') : null;
                return (
                  <tr key={kek.version}>
                    <td>{kek.version}</td>
                    <td>{kek.state}</td>
                    <td>{kek.dekCount}</td>
                    <td>{formatDate(kek.createdAt, lang)}</td>
                    <td>
                      {kek.state !== 'retired' && (
                        <>
                          <button type="button" disabled={busy || blocked !== null} aria-describedby={blocked ? `retire-why-${kek.version}` : undefined} onClick={() => void retire(kek.version)}>
                            {t('keys.retire')}
                          </button>
                          {blocked && (
                            <small id={`retire-why-${kek.version}`} class="muted">
                              {' '}
                              {blocked}
                            </small>
                          )}
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
