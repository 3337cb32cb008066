import { Global, Module } from '@nestjs/common';
import { KeyRing } from './key-ring.service.js';
import { KeyRotationWorker } from './key-rotation.worker.js';
import { KeysController } from './keys.controller.js';
import { KeysService } from './keys.service.js';
import { RevisionBinding } from './revision-binding.js';

@Global()
@Module({ controllers: [KeysController], providers: [KeyRing, KeyRotationWorker, KeysService, RevisionBinding], exports: [KeyRing, KeysService, KeyRotationWorker, RevisionBinding] })
export class KeysModule {}
