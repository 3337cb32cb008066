import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A monotonic figure kept elsewhere (a component's stats), read at scrape time. */
export type CounterSource = () => number;

/** Prometheus metrics of one vault instance (own registry, so several apps can share a process in tests). */
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Exposes counters that components keep themselves (e.g. the audit log's), read at each scrape. */
  exposeCounters(counters: Record<string, { help: string; read: CounterSource }>): void {
    for (const [name, { help, read }] of Object.entries(counters)) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
  }

  /** Exposes current figures that components keep themselves (e.g. cache sizes), read at each scrape. */
  exposeGauges(gauges: Record<string, { help: string; read: CounterSource }>): void {
    for (const [name, { help, read }] of Object.entries(gauges)) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    }
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }
}
