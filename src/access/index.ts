export * from './vocabulary.js';
export * from './reveal-table.js';
export * from './ability.factory.js';
export * from './masks.js';
export * from './access-policy.js';
export * from './access.module.js';
