// Worker threads do not inherit the parent's TypeScript loader (tsx's hooks are per thread):
// register tsx here, then load the thread's TypeScript code.
import { register } from 'tsx/esm/api';

register();
await import('./local-thread.ts');
