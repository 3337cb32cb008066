import { Global, Module } from '@nestjs/common';
import { KeyRing } from './key-ring.service.js';
import { KeyRotationWorker } from './key-rotation.worker.js';
import { KeysController } from './keys.controller.js';
import { KeysService } from './keys.service.js';

@Global()
@Module({ controllers: [KeysController], providers: [KeyRing, KeyRotationWorker, KeysService], exports: [KeyRing, KeysService, KeyRotationWorker] })
export class KeysModule {}
