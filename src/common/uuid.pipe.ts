import { Injectable, type PipeTransform } from '@nestjs/common';
import { VaultError } from './vault-error.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `:id` path parameters: a UUID, else 400 (the value is not echoed). */
@Injectable()
export class UuidPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (typeof value !== 'string' || !UUID.test(value)) throw new VaultError('invalid_input', 'id must be a UUID', [{ field: 'id', problem: 'must be a UUID' }]);
    return value.toLowerCase();
  }
}
