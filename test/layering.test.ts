/**
 * The layer rules of DESIGN.md ("Allowed imports, as edges"), checked on the compiled JavaScript in
 * dist/src with dependency-cruiser, which parses and resolves every `import`, `export … from` and
 * `import()` the way Node does:
 *
 *  1. Folder edges: a folder under src/ imports only the folders its row of the table names. The
 *     root modules (errors.ts, tensor.ts, util/) are open to all and import no folder. The package
 *     entries (index.ts, web.ts) assemble everything.
 *  2. Node-only modules (Node's built-ins such as fs, path, os, worker_threads, http; onnxruntime-node;
 *     sharp, piscina) appear only in cli/, io/, runtime/node*.ts and the Node entry index.ts; the browser
 *     entry web.ts (when it exists) reaches none of them, directly or through other modules.
 *
 * Working on the compiled output means type-only imports, which TypeScript erases, create no edge —
 * as intended: they are no load-time dependency. (`npm test` compiles into a clean dist/ first, so
 * no stale module is checked.)
 *
 * Exceptions that exist today are listed below with their reason; an exception that no longer
 * occurs fails the last test, so the lists only shrink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { cruise, type ICruiseResult, type IModule } from 'dependency-cruiser';
import { repoRoot, sharedDir, sharedSkip } from './helpers.js';

const FOLDERS = ['cli', 'tasks', 'io', 'runtime', 'train', 'models', 'analysis', 'nn', 'data', 'graph'] as const;
type Folder = (typeof FOLDERS)[number];

/** DESIGN.md, "Allowed imports, as edges": what each folder may import (besides the root modules). */
const ALLOWED: Record<Folder, readonly Folder[]> = {
  cli: ['tasks', 'io', 'runtime', 'train', 'models', 'data', 'analysis', 'nn', 'graph'],
  tasks: ['io', 'runtime', 'train', 'models', 'data', 'analysis', 'nn', 'graph'],
  io: ['data', 'graph', 'models'],
  runtime: ['graph'],
  train: ['models', 'nn', 'data', 'graph'],
  models: ['nn', 'analysis', 'graph'],
  analysis: ['graph'],
  nn: ['graph'],
  data: [],
  graph: [],
};

/** Where DESIGN.md allows Node-only modules: these folders, `runtime/node*.ts` and the Node entry. */
const NODE_FOLDERS = new Set<string>(['cli', 'io']);
const NODE_RUNTIME_FILE = /^runtime\/node[^/]*\.ts$/;
const NODE_ENTRY = 'index.ts';

/** Edges outside the table, `importer → imported` (paths under src/, .ts) → why it is there for now. */
const KNOWN_EDGE_EXCEPTIONS: ReadonlyMap<string, string> = new Map([]);

/** Node-only imports outside the allowed places, `importer → module` → why. */
const KNOWN_NODE_EXCEPTIONS: ReadonlyMap<string, string> = new Map([]);

// ---- the dependency graph ------------------------------------------------------------------------

const DIST_SRC = join(repoRoot, 'dist', 'src');

let cached: IModule[] | undefined;
async function modules(): Promise<IModule[]> {
  if (cached) return cached;
  assert.ok(existsSync(join(DIST_SRC, 'index.js')), `${DIST_SRC} is not built (run tsc first)`);
  const r = await cruise(['dist/src'], { baseDir: repoRoot, doNotFollow: { path: 'node_modules' }, moduleSystems: ['es6', 'cjs'] });
  cached = (r.output as ICruiseResult).modules.filter((m) => m.source.startsWith('dist/src/'));
  return cached;
}

/** `dist/src/io/run_lock.js` → `io/run_lock.ts`. */
const srcPath = (resolved: string) => resolved.replace(/^dist\/src\//, '').replace(/\.js$/, '.ts');

type Place = { kind: 'folder'; folder: Folder } | { kind: 'root' } | { kind: 'entry' } | { kind: 'unknown' };

function placeOf(rel: string): Place {
  const parts = rel.split('/');
  if (parts.length === 1) {
    if (rel === 'errors.ts' || rel === 'tensor.ts') return { kind: 'root' };
    if (rel === 'index.ts' || rel === 'web.ts') return { kind: 'entry' };
    return { kind: 'unknown' };
  }
  if (parts[0] === 'util') return { kind: 'root' };
  return (FOLDERS as readonly string[]).includes(parts[0]!) ? { kind: 'folder', folder: parts[0] as Folder } : { kind: 'unknown' };
}

const NODE_BUILTINS = new Set(builtinModules);

/** The package or built-in a dependency names, when it is Node-only (`fs`, `node:fs/promises` → `fs`). */
function nodeOnlyName(module: string): string | null {
  const name = module.replace(/^node:/, '');
  const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!;
  if (module.startsWith('node:') || NODE_BUILTINS.has(pkg)) return pkg;
  return pkg === 'onnxruntime-node' || pkg === 'sharp' || pkg === 'piscina' ? pkg : null;
}

function mayUseNode(rel: string): boolean {
  const p = placeOf(rel);
  return rel === NODE_ENTRY || NODE_RUNTIME_FILE.test(rel) || (p.kind === 'folder' && NODE_FOLDERS.has(p.folder));
}

interface Found {
  edges: Map<string, string>;
  node: Map<string, string>;
  other: string[];
}

async function findViolations(): Promise<Found> {
  const edges = new Map<string, string>();
  const node = new Map<string, string>();
  const other: string[] = [];
  for (const m of await modules()) {
    const from = srcPath(m.source);
    const fromPlace = placeOf(from);
    if (fromPlace.kind === 'unknown') other.push(`src/${from} is in no folder of DESIGN.md's table (add it there and here)`);
    for (const d of m.dependencies) {
      if (d.couldNotResolve) {
        other.push(`src/${from}: import of '${d.module}' cannot be resolved (a computed import() cannot be checked)`);
        continue;
      }
      const nodeName = nodeOnlyName(d.module);
      if (nodeName !== null) {
        if (!mayUseNode(from)) node.set(`${from} → ${nodeName}`, `src/${from} imports the Node-only module '${d.module}'`);
        continue;
      }
      if (!d.resolved.startsWith('dist/src/')) continue; // other packages (onnxruntime-web, …)
      const to = srcPath(d.resolved);
      const toPlace = placeOf(to);
      const key = `${from} → ${to}`;
      if (toPlace.kind === 'root') continue; // errors.ts, tensor.ts, util/: open to all
      if (fromPlace.kind === 'entry' || fromPlace.kind === 'unknown') continue;
      if (fromPlace.kind === 'root') edges.set(key, `src/${from} → src/${to}: the root modules (errors.ts, tensor.ts, util/) import no folder`);
      else if (toPlace.kind !== 'folder') edges.set(key, `src/${from} → src/${to}: only the entries assemble the package`);
      else if (toPlace.folder !== fromPlace.folder && !ALLOWED[fromPlace.folder].includes(toPlace.folder))
        edges.set(key, `src/${from} → src/${to}: ${fromPlace.folder}/ may import only ${ALLOWED[fromPlace.folder].join(', ') || 'the root modules'}`);
    }
  }
  return { edges, node, other };
}

// ---- the rules ----------------------------------------------------------------------------------

test("layering: the allowed edges here are DESIGN.md's table", { skip: sharedSkip('DESIGN.md') }, () => {
  const design = readFileSync(join(sharedDir, 'DESIGN.md'), 'utf8');
  const table = design.slice(design.indexOf('**Allowed imports, as edges**'));
  const fromDesign: Record<string, string[]> = {};
  for (const m of table.matchAll(/^\| ((?:`\w+\/`(?:, )?)+) \| ([^|]+) \|$/gm)) {
    const cell = m[2]!.replace(/\([^)]*\)/g, ''); // "data (pure parsers), graph (ONNX export)" → "data , graph "
    const allowed = /nothing/.test(cell) ? [] : cell.split(',').map((s) => s.trim());
    for (const f of m[1]!.matchAll(/`(\w+)\/`/g)) fromDesign[f[1]!] = allowed.sort();
  }
  const here = Object.fromEntries(Object.entries(ALLOWED).map(([k, v]) => [k, [...v].sort()]));
  assert.deepEqual(fromDesign, here);
});

test('layering: every module under src/ is in a folder of the table', async () => {
  const { other } = await findViolations();
  assert.ok((await modules()).length > 30, 'dependency-cruiser found the compiled modules');
  assert.deepEqual(other, []);
});

test('layering: folders import only the folders DESIGN.md allows', async () => {
  const { edges } = await findViolations();
  assert.deepEqual([...edges].filter(([k]) => !KNOWN_EDGE_EXCEPTIONS.has(k)).map(([, v]) => v), []);
});

test('layering: Node-only modules only in cli/, io/, runtime/node*.ts and the Node entry', async () => {
  const { node } = await findViolations();
  assert.deepEqual([...node].filter(([k]) => !KNOWN_NODE_EXCEPTIONS.has(k)).map(([, v]) => v), []);
});

test('layering: the browser entry reaches no Node-only module', { skip: !existsSync(join(DIST_SRC, 'web.js')) && 'no src/web.ts yet' }, async () => {
  const bySource = new Map((await modules()).map((m) => [m.source, m]));
  const seen = new Set<string>();
  const reached: string[] = [];
  const visit = (source: string, path: string[]) => {
    if (seen.has(source)) return;
    seen.add(source);
    for (const d of bySource.get(source)?.dependencies ?? []) {
      const name = nodeOnlyName(d.module);
      if (name !== null) reached.push(`${[...path, srcPath(source)].join(' → ')} → ${d.module}`);
      else if (d.resolved.startsWith('dist/src/')) visit(d.resolved, [...path, srcPath(source)]);
    }
  };
  visit('dist/src/web.js', []);
  assert.deepEqual(reached, []);
});

test('layering: places and module names are classified as DESIGN.md says', () => {
  // The rule functions on their own, so that a broken placement or name rule cannot pass silently.
  assert.equal(mayUseNode('tasks/train.ts'), false);
  assert.equal(mayUseNode('runtime/node.ts'), true);
  assert.equal(mayUseNode('runtime/node_session.ts'), true);
  assert.equal(mayUseNode('runtime/session.ts'), false);
  assert.equal(mayUseNode('io/files.ts'), true);
  assert.equal(mayUseNode('index.ts'), true);
  assert.equal(mayUseNode('web.ts'), false);
  for (const m of ['fs', 'node:fs/promises', 'os', 'worker_threads', 'http', 'onnxruntime-node', 'sharp', 'piscina', 'node:crypto']) assert.notEqual(nodeOnlyName(m), null, m);
  for (const m of ['onnxruntime-web', 'dependency-cruiser', 'sharpen']) assert.equal(nodeOnlyName(m), null, m);
  assert.deepEqual(placeOf('util/hash.ts'), { kind: 'root' });
  assert.deepEqual(placeOf('train/trainer.ts'), { kind: 'folder', folder: 'train' });
  assert.deepEqual(placeOf('misc/x.ts'), { kind: 'unknown' });
});

test('layering: every listed exception still occurs (remove fixed ones from the lists)', async () => {
  const { edges, node } = await findViolations();
  assert.deepEqual([...KNOWN_EDGE_EXCEPTIONS.keys()].filter((k) => !edges.has(k)), []);
  assert.deepEqual([...KNOWN_NODE_EXCEPTIONS.keys()].filter((k) => !node.has(k)), []);
});
