import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { CONSOLE_CSP } from '../../src/console/console.js';
import { tamper } from '../audit/helpers.js';
import { launchBrowser } from '../helpers/browser.js';
import { createPrincipal, type TestPrincipal } from '../helpers/principals.js';
import { startTestApp, type TestApp } from '../helpers/test-app.js';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = path.resolve('var', 'console-screenshots');
// A real browser on a loaded 2-core machine: each step can take seconds.
jest.setTimeout(120_000);

/**
 * The console in real Chromium (Debian's, driven by playwright-core) against a real vault on real
 * PostgreSQL: what security staff and admins do with it, what a support token cannot see, and
 * what the API refuses anyway.
 */
describe('console in Chromium', () => {
  let vault: TestApp;
  let base: string;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  const who: Record<string, TestPrincipal> = {};
  let customerId: string;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    vault = await startTestApp();
    await vault.app.listen(0, '127.0.0.1');
    const address = vault.app.getHttpServer().address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    for (const role of ['admin', 'ingest', 'support', 'security', 'privacy'] as const) who[role] = await createPrincipal(vault, { roles: [role], kind: 'staff', name: `${role}-console` });
    const created = await vault.http().post('/v1/customers').set('Authorization', who.ingest.authHeader).send({ personal: { fullName: 'Console Quillon', email: 'console.quillon@example.com' } }).expect(201);
    customerId = created.body.id;
    for (let i = 0; i < 30; i++) await vault.http().post('/v1/customers').set('Authorization', who.ingest.authHeader).send({ personal: { fullName: `Rotation Filler ${i}` } }).expect(201);
    // a disclosure on the register and a read by the privacy officer (the impact page counts it)
    await vault.http().post(`/v1/customers/${customerId}/disclosures`).set('Authorization', who.privacy.authHeader).send({ recipient: { name: 'Tax office', country: 'VN' }, legalBasis: 'legal_obligation', reference: 'Decree 13 art. 17', fields: ['fullName'] }).expect(201);
    await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', who.privacy.authHeader).set('X-Access-Purpose', 'customer_request').set('X-Access-Reason', 'DSAR-2026-17').expect(200);
    // a denied read: support may not read for marketing
    await vault.http().get(`/v1/customers/${customerId}`).set('Authorization', who.support.authHeader).set('X-Access-Purpose', 'marketing').expect(403);
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await vault?.close();
  });

  async function signIn(principal: TestPrincipal): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(`${base}/console/`);
    await page.getByLabel('Access token').fill(principal.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(`Signed in as`).waitFor();
    return page;
  }

  /** axe-core in the page (evaluated through the DevTools protocol, so the page's CSP stays strict). */
  async function seriousViolations(page: Page): Promise<string[]> {
    await page.evaluate(axeSource);
    // Expressions as strings: they run in the page, where the DOM is (this file is typed for Node).
    const result = await page.evaluate<{ id: string; impact: string | null; nodes: number }[]>(
      'axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))',
    );
    return result.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.nodes} nodes)`);
  }

  it('is served same-origin with a strict CSP and no third-party asset', async () => {
    const res = await fetch(`${base}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval/);
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // nothing from another origin
    expect((await fetch(`${base}/console/nope.js`)).status).toBe(404);
  });

  it('a security user sees flags, and finds a customer\'s denied read in the access report', async () => {
    const page = await signIn(who.security);
    await page.getByRole('link', { name: 'Flags' }).click();
    await page.getByRole('heading', { name: /Bursts of denied requests/ }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'Events' }).click();
    await page.locator('table').first().waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'events.png'), fullPage: false });
    await page.getByRole('link', { name: 'Customer access report' }).click();
    await page.getByLabel('Customer id').fill(customerId);
    await page.getByRole('button', { name: 'Show report' }).click();
    const denied = page.locator('tr.row-denied', { hasText: 'customer.read' });
    await denied.first().waitFor();
    expect(await denied.first().textContent()).toContain('marketing');
    expect(await denied.first().textContent()).toContain('denied');
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'access-report.png'), fullPage: false });
    // the token is in this tab's sessionStorage only, never in the URL or localStorage
    expect(page.url()).not.toContain(who.security.token);
    expect(await page.evaluate<string>('JSON.stringify(localStorage)')).not.toContain('cv_');
    expect(await page.evaluate<string | null>("sessionStorage.getItem('cv.token')")).toBe(who.security.token);
    await page.close();
  });

  it('the verification badge is green, then red naming the seq after an event is tampered with through SQL', async () => {
    const page = await signIn(who.security);
    await page.getByRole('link', { name: 'Chain verification' }).click();
    await page.getByRole('button', { name: 'Verify now' }).click();
    const badge = page.getByTestId('verify-badge');
    await badge.waitFor();
    expect(await badge.textContent()).toBe('Chain intact');
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'verify-intact.png') });

    const [{ seq }] = await vault.sql<{ seq: string }>("SELECT seq FROM audit_events WHERE action = 'customer.read' ORDER BY seq LIMIT 1");
    await tamper(vault, `UPDATE audit_events SET purpose = 'service_support' WHERE seq = ${Number(seq)}`);
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.locator('.status-badge.bad').waitFor();
    expect(await badge.textContent()).toBe(`Chain broken — First bad seq: ${seq}`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'verify-broken.png') });
    await tamper(vault, `UPDATE audit_events SET purpose = 'marketing' WHERE seq = ${Number(seq)}`);
    await page.close();
  });

  it('an admin creates a principal and sees its token once', async () => {
    const page = await signIn(who.admin);
    await page.getByRole('link', { name: 'Principals' }).click();
    await page.getByLabel('Name', { exact: true }).fill('desk-agent-7');
    await page.getByRole('checkbox', { name: 'support' }).check();
    await page.getByRole('button', { name: 'Create principal' }).click();
    const token = page.getByTestId('new-token');
    await token.waitFor();
    const shown = (await token.textContent()) ?? '';
    expect(shown).toMatch(/^cv_[A-Za-z0-9_-]{43}$/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'principals.png') });
    // the token works, and is never shown again
    const me = await fetch(`${base}/v1/me`, { headers: { Authorization: `Bearer ${shown}` } });
    expect(((await me.json()) as { roles: string[] }).roles).toEqual(['support']);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.reload();
    await page.getByRole('cell', { name: 'desk-agent-7', exact: true }).waitFor();
    expect(await page.content()).not.toContain(shown);
    await page.close();
  });

  it('an admin rotates keys and sees the progress bar reach done; retire is disabled with its reason while DEKs remain', async () => {
    const page = await signIn(who.admin);
    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('cell', { name: '1', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Rotate KEK' }).click();
    const job = page.getByTestId('rotation-job');
    await page.locator('[data-testid="rotation-job"][data-state="done"]').waitFor({ timeout: 30_000 });
    expect(await job.textContent()).toContain('done');
    expect(await page.locator('progress').getAttribute('value')).toBe('100');
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'keys.png') });
    await page.close();
  });

  it('a support token sees no audit or key pages, and the API refuses them anyway', async () => {
    const page = await signIn(who.support);
    const nav = page.getByRole('navigation', { name: 'main' });
    for (const label of ['Events', 'Chain verification', 'Exports', 'Flags', 'Breach impact', 'Customer requests', 'Principals', 'Keys', 'Customer access report']) {
      expect(await nav.getByRole('link', { name: label }).count()).toBe(0);
    }
    await page.getByText('Nothing this token may see here').waitFor();
    const refused = await page.evaluate(async (token) => {
      const statuses: number[] = [];
      for (const url of ['/v1/audit/events', '/v1/audit/verify', '/v1/keys', '/v1/principals']) statuses.push((await fetch(url, { headers: { Authorization: `Bearer ${token}` } })).status);
      return statuses;
    }, who.support.token);
    expect(refused).toEqual([403, 403, 403, 403]);
    await page.close();
  });

  it('the language switch changes the labels; errors show the API\'s message and request id', async () => {
    const page = await signIn(who.security);
    await page.getByRole('button', { name: 'Tiếng Việt' }).click();
    await page.getByRole('link', { name: 'Sự kiện' }).waitFor();
    expect(await page.getByRole('link', { name: 'Kiểm tra chuỗi' }).count()).toBe(1);
    expect(await page.evaluate<string>('document.documentElement.lang')).toBe('vi');
    await page.getByRole('link', { name: 'Báo cáo truy cập khách hàng' }).click();
    await page.getByLabel('Mã khách hàng').fill('not-a-uuid');
    await page.getByRole('button', { name: 'Xem báo cáo' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('400 invalid_input');
    expect(await alert.textContent()).toMatch(/Mã yêu cầu: [0-9a-f-]{36}/);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('link', { name: 'Events' }).waitFor();
    await page.close();
  });

  it('works from the keyboard alone and reads at 200% zoom without sideways scrolling', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 640, height: 450 }); // 1280x900 at 200%
    await page.goto(`${base}/console/`);
    for (let i = 0; i < 5 && (await page.evaluate<string | undefined>('document.activeElement?.name')) !== 'token'; i++) await page.keyboard.press('Tab');
    await page.keyboard.type(who.security.token);
    await page.keyboard.press('Enter');
    await page.getByText('Signed in as').waitFor();
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate<string | undefined>('document.activeElement?.textContent')) === 'Chain verification';
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Verify now' }).waitFor();
    expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.getByRole('link', { name: 'Events' }).click();
    await page.locator('table').first().waitFor();
    expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.close();
  });

  it('a bad token is refused at sign-in with the API\'s message', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/console/`);
    await page.getByLabel('Access token').fill(`cv_${'A'.repeat(43)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('401');
    expect(await page.evaluate<string | null>("sessionStorage.getItem('cv.token')")).toBeNull();
    await page.close();
  });

  it('a privacy officer builds the signed subject-access report and restricts processing; security sees that officer\'s breach impact', async () => {
    const page = await signIn(who.privacy);
    await page.getByRole('link', { name: 'Customer requests' }).click();
    await page.getByLabel('Customer id').fill(customerId);
    await page.getByLabel('Reason (ticket)').fill('DSAR-2026-17');
    await page.getByRole('button', { name: 'Build report' }).click();
    const signature = page.getByTestId('sar-signature');
    await signature.waitFor();
    expect(await signature.textContent()).toMatch(/^Ed25519 · [0-9a-f]+ · \S+$/);
    await page.getByRole('cell', { name: 'Tax office (VN)' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'privacy.png') });
    await page.getByRole('button', { name: 'Restrict', exact: true }).click();
    await page.getByRole('status').waitFor();
    const [row] = await vault.sql<{ restriction_reason: string | null }>('SELECT restriction_reason FROM customers WHERE id = $1', [customerId]);
    expect(row.restriction_reason).toBe('DSAR-2026-17');
    // erasure stays disabled until the confirmation is typed
    expect(await page.getByRole('button', { name: 'Erase customer' }).isDisabled()).toBe(true);
    await page.close();

    const security = await signIn(who.security);
    await security.getByRole('link', { name: 'Breach impact' }).click();
    await security.getByLabel('Principal id').fill(who.privacy.id);
    await security.getByLabel('From').fill('2020-01-01T00:00');
    await security.getByLabel('To').fill('2030-01-01T00:00');
    await security.getByRole('button', { name: 'Compute impact' }).click();
    await security.getByTestId('impact-customers').waitFor();
    expect(Number(await security.getByTestId('impact-customers').textContent())).toBeGreaterThanOrEqual(1);
    expect(await seriousViolations(security)).toEqual([]);
    await security.close();
  });

  it('no page broke the CSP or threw', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
