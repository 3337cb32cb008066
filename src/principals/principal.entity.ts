import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { Role } from '../access/vocabulary.js';

export const PRINCIPAL_KINDS = ['service', 'staff'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/** A caller of the API (DESIGN §3). The token itself is never stored, only its SHA-256. */
@Entity({ name: 'principals' })
export class Principal {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  kind!: PrincipalKind;

  @Column({ type: 'text', array: true })
  roles!: Role[];

  @Column({ name: 'token_hash', type: 'bytea' })
  tokenHash!: Buffer;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
