import { SetMetadata } from '@nestjs/common';
import type { CustomerAction } from './ability.factory.js';

export const POLICY = Symbol('POLICY');

/** The CASL (action, subject) pairs a route may demand: the same vocabulary as `AppAbility`. */
export type PolicyRule = readonly [CustomerAction, 'Customer'] | readonly ['read', 'AuditLog'] | readonly ['administer', 'Principal' | 'Key'] | readonly ['read', 'Self'];

export interface PolicyOptions {
  purpose?: RoutePolicy['purpose'];
}

export interface RoutePolicy {
  rule: PolicyRule;
  /**
   * `required`: `X-Access-Purpose` must be sent (reads, searches); `optional`: checked and recorded
   * when sent. Either way `X-Access-Reason` is required for the purposes that reveal most.
   */
  purpose: 'required' | 'optional';
}

/**
 * Declares the policy of a route; the PoliciesGuard enforces it before any pipe or handler runs.
 * Every route needs one, plus `@Audited(action, resourceType)`, or else `@Public()`: start-up fails
 * otherwise, naming the route. Example:
 *
 *   @Get(':id')
 *   @Policy('read', 'Customer', { purpose: 'required' })
 *   @Audited('customer.read', 'customer')
 *
 * The rule is checked against the actor's ability for the request's purpose (`createAbility`);
 * checks that need the resource itself (consent, hold, fields) stay in the service.
 */
export function Policy(action: CustomerAction, subject: 'Customer', options?: PolicyOptions): MethodDecorator & ClassDecorator;
export function Policy(action: 'read', subject: 'AuditLog', options?: PolicyOptions): MethodDecorator & ClassDecorator;
export function Policy(action: 'administer', subject: 'Principal' | 'Key', options?: PolicyOptions): MethodDecorator & ClassDecorator;
export function Policy(action: 'read', subject: 'Self', options?: PolicyOptions): MethodDecorator & ClassDecorator;
export function Policy(action: PolicyRule[0], subject: PolicyRule[1], options: PolicyOptions = {}): MethodDecorator & ClassDecorator {
  return SetMetadata(POLICY, { rule: [action, subject] as PolicyRule, purpose: options.purpose ?? 'optional' } satisfies RoutePolicy);
}
