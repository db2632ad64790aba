// Minimal typings for the two LZO packages codecs/lzop.ts uses; neither ships its own.

declare module 'lzo-wasm/lzo-wasm.js' {
  export interface LzoWasmModule {
    HEAPU8: Uint8Array;
    _malloc(size: number): number;
    _free(ptr: number): void;
    cwrap(name: string, returnType: 'number', argTypes: string[]): (...args: number[]) => number;
  }
  const createModule: (overrides?: { wasmBinary?: Uint8Array }) => Promise<LzoWasmModule>;
  export default createModule;
}

declare module 'lzo' {
  const lzo: {
    /** LZO1X-1 compression of the whole buffer. */
    compress(input: Buffer): Buffer;
    decompress(input: Buffer, length?: number): Buffer;
    /** LZO library version string, e.g. "2.09". */
    version: string;
  };
  export default lzo;
}
