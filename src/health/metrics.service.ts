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
  private readonly emptySearches = new Counter({
    name: 'vault_customer_searches_empty_total',
    help: 'Customer searches that found nothing, by search field (a burst can be someone guessing values)',
    labelNames: ['field'] as const,
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

  /** A search by `field` found nothing. The label is the field's name, never the term. */
  countEmptySearch(field: string): void {
    this.emptySearches.inc({ field });
  }

  /** Exposes gauges (current values, e.g. open connections) that components keep, read at each scrape. */
  exposeGauges(gauges: Record<string, { help: string; read: () => number }>): void {
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
