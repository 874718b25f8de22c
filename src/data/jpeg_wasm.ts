/**
 * libjpeg-turbo's TurboJPEG API compiled to WebAssembly (the `jpeg-turbo.wasm` of @cwasm/jpeg-turbo,
 * the decoder of Node's JS path), instantiated from its bytes or a compiled module — no file system, so
 * the browser entry decodes JPEG with the same code as Node and PIL (ISLOW IDCT, fancy upsampling).
 */
import type { JpegDecoder } from './decode_image.js';

/** TurboJPEG's pixel format constant for interleaved RGBA (TJPF_RGBA). */
const TJPF_RGBA = 7;

interface TurboJpeg {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(h: number, src: number, size: number, w: number, hgt: number, subsamp: number, colorspace: number): number;
  tjDecompress2(h: number, src: number, size: number, dst: number, w: number, pitch: number, hgt: number, format: number, flags: number): number;
  tjDestroy(h: number): number;
}

/** A JPEG decoder over the WebAssembly module (bytes of jpeg-turbo.wasm, or the module compiled). */
export async function jpegDecoderFromWasm(wasm: BufferSource | WebAssembly.Module): Promise<JpegDecoder> {
  const fail = (what: string) => () => {
    throw new Error(`the JPEG decoder called ${what}, which is not available here`);
  };
  // The module was built against WASI and setjmp/longjmp; decoding calls none of them except setjmp.
  const imports = {
    env: { setjmp: () => 0, longjmp: fail('longjmp') },
    wasi_snapshot_preview1: {
      environ_sizes_get: () => 0,
      environ_get: fail('environ_get'),
      proc_exit: fail('proc_exit'),
      fd_close: fail('fd_close'),
      fd_seek: fail('fd_seek'),
      fd_write: fail('fd_write'),
    },
  };
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  const tj = (await WebAssembly.instantiate(module, imports)).exports as unknown as TurboJpeg;
  return (bytes) => {
    const src = tj.malloc(bytes.length);
    const handle = tj.tjInitDecompress();
    const meta = tj.malloc(16);
    let dst = 0;
    try {
      new Uint8Array(tj.memory.buffer, src, bytes.length).set(bytes);
      if (handle === 0) throw new Error('libjpeg-turbo could not start a decompressor');
      if (tj.tjDecompressHeader3(handle, src, bytes.length, meta, meta + 4, meta + 8, meta + 12) !== 0) throw new Error('not a readable JPEG header');
      const [width, height] = new Uint32Array(tj.memory.buffer, meta, 2) as unknown as [number, number];
      dst = tj.malloc(width * height * 4);
      if (dst === 0) throw new Error(`no memory for ${width}×${height} pixels`);
      if (tj.tjDecompress2(handle, src, bytes.length, dst, width, width * 4, height, TJPF_RGBA, 0) !== 0) throw new Error('corrupt JPEG data');
      // Copied out: the wasm memory is reused (and may grow) on the next call.
      return { width, height, data: new Uint8Array(tj.memory.buffer, dst, width * height * 4).slice() };
    } finally {
      if (dst) tj.free(dst);
      tj.free(meta);
      tj.free(src);
      if (handle) tj.tjDestroy(handle);
    }
  };
}
