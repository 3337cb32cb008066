import http from 'node:http';

/** One Server-Sent Events frame as a client sees it; comments (heartbeats) are kept apart. */
export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

/**
 * A minimal SSE client over node:http for the tests: the raw text, the frames parsed as the
 * EventSource spec reads them, and the comments. `pause()` stops reading from the socket (a slow
 * consumer: the kernel buffers fill, then the server's).
 */
export class SseClient {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  text = '';
  ended = false;
  private buffer = '';
  private response: http.IncomingMessage | undefined;
  private request!: http.ClientRequest;
  private readonly waiters: (() => void)[] = [];
  readonly ready: Promise<void>;

  constructor(url: string, headers: Record<string, string>, options: { paused?: boolean } = {}) {
    this.ready = new Promise((resolve, reject) => {
      this.request = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        this.response = res;
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        if (options.paused) res.pause();
        res.on('data', (chunk: string) => this.receive(chunk));
        res.on('end', () => {
          this.ended = true;
          this.notify();
        });
        res.on('error', () => undefined);
        resolve();
      });
      this.request.on('error', (error) => {
        this.ended = true;
        this.notify();
        reject(error);
      });
    });
  }

  get events(): SseFrame[] {
    return this.frames.filter((f) => f.event === 'message');
  }

  /** The seq of the last event received (its `id:`), 0 before any: cheap to poll, unlike `json()`. */
  lastSeq(): number {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i].event === 'message') return Number(this.frames[i].id ?? 0);
    return 0;
  }

  json<T>(): T[] {
    return this.events.map((f) => JSON.parse(f.data) as T);
  }

  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.request.destroy();
  }

  /** Resolves once `predicate` holds (checked after each chunk); rejects after `timeoutMs`. */
  async until(predicate: (client: SseClient) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (this.ended && !predicate(this)) throw new Error(`stream ended before the condition held; received:\n${this.text.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; received:\n${this.text.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private receive(chunk: string): void {
    this.text += chunk;
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame: SseFrame = { event: 'message', data: '' };
      const data: string[] = [];
      let isFrame = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') {
          data.push(value);
          isFrame = true;
        } else if (name === 'id') frame.id = value;
        else if (name === 'event') frame.event = value;
      }
      if (isFrame) {
        frame.data = data.join('\n');
        this.frames.push(frame);
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
