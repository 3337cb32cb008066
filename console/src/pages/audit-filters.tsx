import { useState } from 'preact/hooks';
import type { operations } from '../../../client/schema.js';
import { useSession } from '../context.js';

export type AuditFilters = NonNullable<operations['Audit_list']['parameters']['query']>;

const PURPOSES = ['payment_confirmation', 'service_support', 'renewal_notice', 'marketing', 'fraud_investigation', 'customer_request', 'legal_obligation'] as const;
const OUTCOMES = ['allowed', 'denied', 'error'] as const;

/** A datetime-local input (the user's own zone) as the ISO instant the API takes. */
function instant(local: string): string | undefined {
  return local === '' ? undefined : new Date(local).toISOString();
}

/** Every filter of GET /v1/audit/events; empty fields are left out. */
export function AuditFilterForm({ onApply, submitLabel }: { onApply: (filters: AuditFilters) => void; submitLabel?: string }) {
  const { t } = useSession();
  const [form, setForm] = useState({ customerId: '', actorId: '', action: '', purpose: '', outcome: '', from: '', to: '' });
  const set = (name: keyof typeof form) => (event: Event) => setForm({ ...form, [name]: (event.currentTarget as HTMLInputElement).value });
  const submit = (event: Event) => {
    event.preventDefault();
    const filters: AuditFilters = {};
    if (form.customerId.trim()) filters.customerId = form.customerId.trim();
    if (form.actorId.trim()) filters.actorId = form.actorId.trim();
    if (form.action.trim()) filters.action = form.action.trim();
    if (form.purpose) filters.purpose = form.purpose as AuditFilters['purpose'];
    if (form.outcome) filters.outcome = form.outcome as AuditFilters['outcome'];
    const from = instant(form.from);
    const to = instant(form.to);
    if (from) filters.from = from;
    if (to) filters.to = to;
    onApply(filters);
  };
  return (
    <form class="filters" onSubmit={submit}>
      <label>
        {t('filter.customerId')}
        <input name="customerId" value={form.customerId} onInput={set('customerId')} autocomplete="off" />
      </label>
      <label>
        {t('filter.actorId')}
        <input name="actorId" value={form.actorId} onInput={set('actorId')} autocomplete="off" />
      </label>
      <label>
        {t('filter.action')}
        <input name="action" value={form.action} onInput={set('action')} placeholder="customer.read" autocomplete="off" />
      </label>
      <label>
        {t('filter.purpose')}
        <select name="purpose" value={form.purpose} onChange={set('purpose')}>
          <option value="">{t('filter.any')}</option>
          {PURPOSES.map((purpose) => (
            <option value={purpose}>{purpose}</option>
          ))}
        </select>
      </label>
      <label>
        {t('filter.outcome')}
        <select name="outcome" value={form.outcome} onChange={set('outcome')}>
          <option value="">{t('filter.any')}</option>
          {OUTCOMES.map((outcome) => (
            <option value={outcome}>{t(`outcome.${outcome}`)}</option>
          ))}
        </select>
      </label>
      <label>
        {t('filter.from')}
        <input type="datetime-local" name="from" value={form.from} onInput={set('from')} />
      </label>
      <label>
        {t('filter.to')}
        <input type="datetime-local" name="to" value={form.to} onInput={set('to')} />
      </label>
      <button type="submit">{submitLabel ?? t('filter.apply')}</button>
    </form>
  );
}
