/**
 * The typed client of the Customer Vault API, generated from its OpenAPI document (schema.ts) on
 * openapi-fetch. Internal services import it as `customer-vault/client`; the console uses it too.
 *
 *   const vault = createVaultClient({ baseUrl: 'http://vault:8080', token: process.env.VAULT_TOKEN! });
 *   const { data, error } = await vault.GET('/v1/customers/{id}', { params: { path: { id }, header: { 'X-Access-Purpose': 'service_support' } } });
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, paths } from './schema.js';
export type VaultClient = Client<paths>;
/** The error body every failing answer carries (DESIGN §4). */
export type VaultErrorBody = components['schemas']['ErrorResponse'];

export interface VaultClientOptions {
  baseUrl: string;
  /** `cv_…` bearer token; sent in the Authorization header, never in a URL. */
  token: string;
  fetch?: ClientOptions['fetch'];
}

export function createVaultClient(options: VaultClientOptions): VaultClient {
  return createClient<paths>({ baseUrl: options.baseUrl, fetch: options.fetch, headers: { Authorization: `Bearer ${options.token}` } });
}
