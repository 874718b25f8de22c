/**
 * `npm run web`: bundle the demo page (examples/web/) with esbuild and serve it on 127.0.0.1 with the
 * cross-origin isolation headers (multi-threaded wasm), together with onnxruntime-web's files, the
 * JPEG decoder's wasm and the bundled sample images. Prints the URL; Ctrl-C stops it.
 *
 *   npm run web                     # http://127.0.0.1:8080/
 *   node dist/scripts/web_demo.js --port 0
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { findPackageRoot } from '../src/io/package_root.js';
import { serveStatic } from './static_server.js';
import { writeSplit } from './fashion_mnist_to_folders.js';
import { BUNDLED_FASHION_MNIST_DIR, loadFashionMnist } from '../src/io/fashion_mnist_files.js';

/** Trouser, sneaker, bag, ankle boot: classes a small model tells apart in a few epochs. */
const FINETUNE_SAMPLE_CLASSES = [1, 7, 8, 9];
const FINETUNE_SAMPLES_PER_CLASS = 40;

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** Build the demo into a temporary folder and serve it; `port` 0 picks a free one. */
export async function startDemoServer(o: { port?: number; host?: string } = {}): Promise<DemoServer> {
  const root = findPackageRoot();
  const build = mkdtempSync(join(tmpdir(), 'visionmix-demo-'));
  const bundle = (entry: string, outfile: string, o: esbuild.BuildOptions) =>
    esbuild.build({ entryPoints: [join(root, 'examples', 'web', entry)], outfile: join(build, outfile), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'warning', ...o });
  // The page: onnxruntime-web stays out (the page's import map loads it).
  await bundle('main.ts', 'demo.js', { sourcemap: true, external: ['onnxruntime-web', 'onnxruntime-web/*'] });
  // The fine-tune panel's Web Worker: the trainer with onnxruntime-web inside (import maps do not reach workers).
  await bundle('train_worker.ts', 'train_worker.js', {});
  // The fine-tune panel's sample data: four Fashion-MNIST classes of the bundled subset as class folders.
  const ftDir = join(build, 'ftsamples');
  await writeSplit((await loadFashionMnist(BUNDLED_FASHION_MNIST_DIR)).train, ftDir, FINETUNE_SAMPLE_CLASSES, FINETUNE_SAMPLES_PER_CLASS);
  const ftFiles = readdirSync(ftDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.png')).sort();
  const samplesDir = join(root, 'assets', 'samples');
  const samples = readdirSync(samplesDir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  const mounts: Record<string, string> = {
    '/app/': build,
    '/ort/': join(root, 'node_modules', 'onnxruntime-web', 'dist'),
    '/wasm/': join(root, 'node_modules', '@cwasm', 'jpeg-turbo'),
    '/samples/': samplesDir,
    '/ftsamples/': ftDir,
  };
  const server = await serveStatic(mounts, { port: o.port ?? 8080, host: o.host });
  const page = readFileSync(join(root, 'examples', 'web', 'index.html'));
  server.put('/', page, { 'Content-Type': 'text/html; charset=utf-8' });
  server.put('/index.html', page);
  server.put('/samples.json', JSON.stringify(samples));
  server.put('/ftsamples.json', JSON.stringify(ftFiles));
  return {
    url: `${server.url}/`,
    close: async () => {
      await server.close();
      rmSync(build, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer in 0…65535, got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  if (!existsSync(join(findPackageRoot(), 'node_modules', 'onnxruntime-web', 'dist'))) {
    console.error('onnxruntime-web is not installed (npm install onnxruntime-web): the demo page needs its files');
    process.exit(1);
  }
  const s = await startDemoServer({ port });
  console.log(`visionmix web demo: ${s.url}  (Ctrl-C to stop)`);
  process.on('SIGINT', () => void s.close().then(() => process.exit(0)));
}
