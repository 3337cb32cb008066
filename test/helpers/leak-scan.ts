import type { TestApp } from './test-app.js';

/**
 * Tables that hold what a customer's rights produce (the disclosure register, the consent history)
 * and the answers stored for Idempotency-Keys: every scan must reach them, so a scan that silently
 * missed one (a schema or filter change) fails.
 */
export const TABLES_SCANNED_ALWAYS = ['customers', 'customer_disclosures', 'customer_consent_history', 'idempotency_keys', 'audit_events', 'audit_pending'];

export interface Leak {
  where: string;
  needle: string;
}

/**
 * Looks for each needle (a test plaintext or token) in every text, varchar, jsonb, array and
 * bytea column of every table of the app's database, and in its captured logs. Shared by the
 * suites: a vault must never hold or log what it was given in plain.
 */
export async function findLeaks(vault: TestApp, needles: string[], extraTexts: Record<string, string> = {}): Promise<Leak[]> {
  const leaks: Leak[] = [];
  const columns = await vault.sql<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
       AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY', 'USER-DEFINED')`,
  );
  const scanned = new Set(columns.map((c) => c.table_name));
  const missing = TABLES_SCANNED_ALWAYS.filter((table) => !scanned.has(table));
  if (missing.length > 0) throw new Error(`leak scan does not reach ${missing.join(', ')}`);
  for (const { table_name: table, column_name: column, data_type: type } of columns) {
    const expression = type === 'bytea' ? `encode("${column}", 'escape')` : `"${column}"::text`;
    if (needles.length === 0) continue;
    // One query per column for all needles (suites scan hundreds of needles).
    const found = await vault.sql<{ needle: string }>(
      `SELECT n.needle FROM unnest($1::text[]) AS n(needle)
       WHERE EXISTS (SELECT 1 FROM "${table}" WHERE strpos(lower(${expression}), lower(n.needle)) > 0)`,
      [needles],
    );
    for (const { needle } of found) leaks.push({ where: `${table}.${column}`, needle });
  }
  const texts: Record<string, string> = { logs: vault.logs.text(), ...extraTexts };
  for (const [where, text] of Object.entries(texts)) {
    const lower = text.toLowerCase();
    for (const needle of needles) if (lower.includes(needle.toLowerCase())) leaks.push({ where, needle });
  }
  return leaks;
}
