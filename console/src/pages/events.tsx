import { useEffect, useRef, useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorBox, EventTable, Section, useAction, type AuditEvent } from '../components.js';
import { useSession } from '../context.js';
import { AuditFilterForm, type AuditFilters } from './audit-filters.js';

/** Parses a Server-Sent Events body read through fetch (EventSource cannot send a bearer token). */
async function* serverSentEvents(body: ReadableStream<BufferSource>): AsyncGenerator<{ id?: string; event?: string; data: string }> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message: { id?: string; event?: string; data: string } = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') message.data += (message.data ? '\n' : '') + text;
        else if (name === 'id') message.id = text;
        else if (name === 'event') message.event = text;
      }
      if (message.data) yield message;
    }
  }
}

export function EventsPage() {
  const { client, token, t } = useSession();
  const [filters, setFilters] = useState<AuditFilters>({});
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [tail, setTail] = useState<'off' | 'on' | 'unavailable'>('off');
  const tailAbort = useRef<AbortController | null>(null);
  const { busy, error, run } = useAction();

  const load = (next: AuditFilters, after: string | null) =>
    run(async () => {
      const page = await call(client.GET('/v1/audit/events', { params: { query: { ...next, limit: 100, ...(after ? { cursor: after } : {}) } } }));
      setEvents((shown) => (after ? [...shown, ...page.events] : page.events));
      setCursor(page.nextCursor);
      setLoaded(true);
    });

  useEffect(() => {
    void load({}, null);
    return () => tailAbort.current?.abort();
  }, []);

  const startTail = async () => {
    if (tail === 'on') {
      tailAbort.current?.abort();
      setTail('off');
      return;
    }
    const abort = new AbortController();
    tailAbort.current = abort;
    const lastSeq = events.reduce((max, event) => Math.max(max, event.seq), 0);
    const response = await fetch('/v1/audit/stream', { headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': String(lastSeq) }, signal: abort.signal }).catch(() => null);
    if (response === null || !response.ok || response.body === null) {
      setTail('unavailable');
      return;
    }
    setTail('on');
    try {
      for await (const message of serverSentEvents(response.body)) {
        if (message.event && message.event !== 'message' && message.event !== 'event') continue;
        const event = JSON.parse(message.data) as AuditEvent;
        setEvents((shown) => (shown.some((e) => e.seq === event.seq) ? shown : [...shown, event]));
      }
    } catch {
      // aborted by the user or the server closed the stream
    }
    setTail('off');
  };

  return (
    <Section title={t('nav.events')}>
      <AuditFilterForm
        onApply={(next) => {
          setFilters(next);
          void load(next, null);
        }}
      />
      <div class="toolbar">
        <button type="button" aria-pressed={tail === 'on'} onClick={() => void startTail()}>
          {t('events.tail')}
        </button>
        {tail === 'on' && <span class="badge">{t('events.tailOn')}</span>}
        {tail === 'unavailable' && <span class="muted">{t('events.tailUnavailable')}</span>}
      </div>
      <ErrorBox error={error} />
      {loaded && <EventTable events={events} caption={t('nav.events')} />}
      {busy && <p class="muted">{t('loading')}</p>}
      {loaded && cursor !== null && (
        <button type="button" onClick={() => void load(filters, cursor)} disabled={busy}>
          {t('events.more')}
        </button>
      )}
      {loaded && cursor === null && <p class="muted">{t('events.end')}</p>}
    </Section>
  );
}
