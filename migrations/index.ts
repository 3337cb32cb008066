/** Every migration, in order. A new migration is added here as well as in its own file. */
export const MIGRATIONS: Function[] = [];
