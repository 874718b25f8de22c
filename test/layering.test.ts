/**
 * The layer rules of DESIGN.md ("Allowed imports, as edges"), checked on the TypeScript sources:
 *
 *  1. Folder edges: a folder under src/ imports only the folders its row of the table names — type-only
 *     imports included (`import type`, `export type … from`, `import('…').T` in a type), since a type
 *     names what a layer knows about. The root modules (errors.ts, tensor.ts, util/) are open to all and
 *     import no folder. The package entries (index.ts, web.ts) assemble everything.
 *  2. Node-only modules (Node's built-ins such as fs, path, os, worker_threads, http; onnxruntime-node;
 *     sharp, piscina) appear only in cli/, io/, runtime/node*.ts and the Node entry index.ts; the browser
 *     entry web.ts (when it exists) reaches none of them at load time, directly or through other modules.
 *
 * The sources are read with TypeScript's own parser (the project's TypeScript 7, through its API):
 * every import and export declaration, `import()` call and import type of each file under src/, its
 * relative `.js` specifier resolved to the `.ts` file beside it. (dependency-cruiser, which checks
 * the compiled output for rule 2's load-time reachability, parses TypeScript only with TypeScript < 7
 * or swc, so on the sources it would see nothing.) A test below runs the check on a fixture with a
 * type-only import across a forbidden edge, so the rule cannot pass by reading nothing.
 *
 * Exceptions that exist today are listed below with their reason; an exception that no longer
 * occurs fails the last test, so the lists only shrink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { cruise, type ICruiseResult, type IModule } from 'dependency-cruiser';
import { API } from 'typescript/unstable/sync';
import {
  SyntaxKind,
  type CallExpression,
  type ExportDeclaration,
  type ExternalModuleReference,
  type ImportDeclaration,
  type ImportEqualsDeclaration,
  type ImportTypeNode,
  type LiteralTypeNode,
  type NamedImports,
  type Node,
  type StringLiteral,
} from 'typescript/unstable/ast';
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
/** The package's entries (package.json "exports"): '.', './web', './web-train', './train', './data'. */
const ENTRIES = ['index.ts', 'web.ts', 'web_train.ts', 'train_entry.ts', 'data_entry.ts'];
/** The browser entries (compiled): they must reach no Node-only module. */
const BROWSER_ENTRIES = ['dist/src/web.js', 'dist/src/web_train.js'];

/** Edges outside the table, `importer → imported` (paths under src/, .ts) → why it is there for now. */
const KNOWN_EDGE_EXCEPTIONS: ReadonlyMap<string, string> = new Map([]);

/** Node-only imports outside the allowed places, `importer → module` → why. */
const KNOWN_NODE_EXCEPTIONS: ReadonlyMap<string, string> = new Map([]);

// ---- the dependency graph ------------------------------------------------------------------------

/** One import of a module: its specifier, and the file under src/ it resolves to (paths under src/, .ts). */
interface Dep {
  module: string;
  /** The importee under src/; null for a package or built-in, or when unresolved. */
  to: string | null;
  /** A relative specifier naming no file, or an `import()` of a computed name. */
  unresolved: boolean;
  /** Erased from the compiled JavaScript (`import type`, `export type`, type positions). */
  typeOnly: boolean;
}

interface ModuleDeps {
  /** Path under src/, .ts. */
  source: string;
  deps: Dep[];
}

/**
 * Every module under `root`/src with its imports, read by TypeScript's parser from the project of
 * `root`/tsconfig.json: import/export declarations, `import x = require()`, `import()` calls and
 * import types (`import('…').T`), type-only ones included.
 */
function sourceModules(root: string): ModuleDeps[] {
  const srcDir = join(root, 'src');
  const api = new API({ cwd: root });
  try {
    const project = api.updateSnapshot({ openProject: join(root, 'tsconfig.json') }).getProjects()[0];
    assert.ok(project, `TypeScript found no project in ${root}/tsconfig.json`);
    const files = project.program.getSourceFileNames().filter((f) => f.startsWith(srcDir + sep) && f.endsWith('.ts') && !f.endsWith('.d.ts'));
    return files.map((file) => {
      const sf = project.program.getSourceFile(file);
      assert.ok(sf, `TypeScript has no source file ${file}`);
      const deps: Dep[] = [];
      const add = (spec: Node | undefined, typeOnly: boolean) => {
        if (!spec) return;
        if (spec.kind !== SyntaxKind.StringLiteral && spec.kind !== SyntaxKind.NoSubstitutionTemplateLiteral) {
          deps.push({ module: spec.getText(sf), to: null, unresolved: true, typeOnly });
          return;
        }
        const module = (spec as StringLiteral).text;
        if (!module.startsWith('.')) {
          deps.push({ module, to: null, unresolved: false, typeOnly });
          return;
        }
        const target = resolve(dirname(file), module).replace(/\.js$/, '.ts');
        const inside = target.startsWith(srcDir + sep);
        const found = inside && existsSync(target);
        deps.push({ module, to: found ? relative(srcDir, target).split(sep).join('/') : null, unresolved: inside && !found, typeOnly });
      };
      const visit = (node: Node): void => {
        switch (node.kind) {
          case SyntaxKind.ImportDeclaration: {
            const d = node as ImportDeclaration;
            const c = d.importClause;
            const named = c?.namedBindings?.kind === SyntaxKind.NamedImports ? (c.namedBindings as NamedImports).elements : undefined;
            // `import type …`, or `import { type A, type B }`: erased from the JavaScript.
            add(d.moduleSpecifier, c !== undefined && (c.phaseModifier === SyntaxKind.TypeKeyword || (!c.name && named !== undefined && named.length > 0 && named.every((e) => e.isTypeOnly))));
            return;
          }
          case SyntaxKind.ExportDeclaration: {
            const d = node as ExportDeclaration;
            add(d.moduleSpecifier, d.isTypeOnly);
            return;
          }
          case SyntaxKind.ImportEqualsDeclaration: {
            const d = node as ImportEqualsDeclaration;
            if (d.moduleReference.kind === SyntaxKind.ExternalModuleReference) add((d.moduleReference as ExternalModuleReference).expression, d.isTypeOnly);
            return;
          }
          case SyntaxKind.ImportType: {
            const arg = (node as ImportTypeNode).argument;
            if (arg.kind === SyntaxKind.LiteralType) add((arg as LiteralTypeNode).literal, true);
            break;
          }
          case SyntaxKind.CallExpression: {
            const c = node as CallExpression;
            if (c.expression.kind === SyntaxKind.ImportKeyword) add(c.arguments[0], false);
            break;
          }
        }
        node.forEachChild(visit);
      };
      sf.forEachChild(visit);
      return { source: relative(srcDir, file).split(sep).join('/'), deps };
    });
  } finally {
    api.close();
  }
}

let cachedSources: ModuleDeps[] | undefined;
const sources = (): ModuleDeps[] => (cachedSources ??= sourceModules(repoRoot));

// The compiled output, read by dependency-cruiser the way Node loads it (for the browser entry's reach).
const DIST_SRC = join(repoRoot, 'dist', 'src');

let cached: IModule[] | undefined;
async function compiledModules(): Promise<IModule[]> {
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
    if (ENTRIES.includes(rel)) return { kind: 'entry' };
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

function findViolations(modules: readonly ModuleDeps[]): Found {
  const edges = new Map<string, string>();
  const node = new Map<string, string>();
  const other: string[] = [];
  for (const m of modules) {
    const from = m.source;
    const fromPlace = placeOf(from);
    if (fromPlace.kind === 'unknown') other.push(`src/${from} is in no folder of DESIGN.md's table (add it there and here)`);
    for (const d of m.deps) {
      if (d.unresolved) {
        other.push(`src/${from}: import of '${d.module}' cannot be resolved (a computed import() cannot be checked)`);
        continue;
      }
      const how = d.typeOnly ? ' (type-only)' : '';
      const nodeName = nodeOnlyName(d.module);
      if (nodeName !== null) {
        if (!mayUseNode(from)) node.set(`${from} → ${nodeName}`, `src/${from} imports the Node-only module '${d.module}'${how}`);
        continue;
      }
      if (d.to === null) continue; // other packages (onnxruntime-web, …)
      const to = d.to;
      const toPlace = placeOf(to);
      const key = `${from} → ${to}`;
      if (toPlace.kind === 'root') continue; // errors.ts, tensor.ts, util/: open to all
      if (fromPlace.kind === 'entry' || fromPlace.kind === 'unknown') continue;
      if (fromPlace.kind === 'root') edges.set(key, `src/${from} → src/${to}${how}: the root modules (errors.ts, tensor.ts, util/) import no folder`);
      else if (toPlace.kind !== 'folder') edges.set(key, `src/${from} → src/${to}${how}: only the entries assemble the package`);
      else if (toPlace.folder !== fromPlace.folder && !ALLOWED[fromPlace.folder].includes(toPlace.folder))
        edges.set(key, `src/${from} → src/${to}${how}: ${fromPlace.folder}/ may import only ${ALLOWED[fromPlace.folder].join(', ') || 'the root modules'}`);
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

test('layering: every module under src/ is in a folder of the table', () => {
  const { other } = findViolations(sources());
  assert.ok(sources().length > 30, 'TypeScript found the modules under src/');
  assert.ok(sources().some((m) => m.deps.some((d) => d.typeOnly && d.to !== null)), 'type-only imports are read');
  assert.deepEqual(other, []);
});

test('layering: folders import only the folders DESIGN.md allows (type-only imports included)', () => {
  const { edges } = findViolations(sources());
  assert.deepEqual([...edges].filter(([k]) => !KNOWN_EDGE_EXCEPTIONS.has(k)).map(([, v]) => v), []);
});

test('layering: Node-only modules only in cli/, io/, runtime/node*.ts and the Node entry', () => {
  const { node } = findViolations(sources());
  assert.deepEqual([...node].filter(([k]) => !KNOWN_NODE_EXCEPTIONS.has(k)).map(([, v]) => v), []);
});

test('layering: the check fails on a type-only import, export or import type across a forbidden edge', () => {
  // A throwaway project: train/ naming a type of tasks/ three ways (erased from the JavaScript, so
  // invisible to a check of the compiled output), and models/ importing a graph/ value (allowed).
  const root = mkdtempSync(join(tmpdir(), 'visionmix-layering-'));
  try {
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] }, include: ['src/**/*.ts'] }));
    write('src/tasks/job.ts', 'export interface Job { name: string }\n');
    write('src/graph/ops.ts', 'export const one = 1;\n');
    write('src/train/a.ts', "import type { Job } from '../tasks/job.js';\nexport const jobName = (j: Job): string => j.name;\n");
    write('src/train/b.ts', "export type { Job } from '../tasks/job.js';\n");
    write('src/train/c.ts', "export const name = (j: import('../tasks/job.js').Job): string => j.name;\n");
    write('src/models/m.ts', "import { one } from '../graph/ops.js';\nexport const two = one + 1;\n");
    const found = findViolations(sourceModules(root));
    assert.deepEqual([...found.edges.keys()].sort(), ['train/a.ts → tasks/job.ts', 'train/b.ts → tasks/job.ts', 'train/c.ts → tasks/job.ts']);
    assert.match(found.edges.get('train/a.ts → tasks/job.ts')!, /\(type-only\): train\/ may import only models, nn, data, graph/);
    assert.deepEqual(found.other, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('layering: the browser entries reach no Node-only module', { skip: !existsSync(join(DIST_SRC, 'web.js')) && 'no src/web.ts yet' }, async () => {
  const bySource = new Map((await compiledModules()).map((m) => [m.source, m]));
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
  for (const entry of BROWSER_ENTRIES) visit(entry, []);
  assert.ok(BROWSER_ENTRIES.every((e) => seen.has(e)));
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
  assert.equal(mayUseNode('web_train.ts'), false);
  for (const m of ['fs', 'node:fs/promises', 'os', 'worker_threads', 'http', 'onnxruntime-node', 'sharp', 'piscina', 'node:crypto']) assert.notEqual(nodeOnlyName(m), null, m);
  for (const m of ['onnxruntime-web', 'dependency-cruiser', 'sharpen']) assert.equal(nodeOnlyName(m), null, m);
  assert.deepEqual(placeOf('util/hash.ts'), { kind: 'root' });
  assert.deepEqual(placeOf('train/trainer.ts'), { kind: 'folder', folder: 'train' });
  assert.deepEqual(placeOf('misc/x.ts'), { kind: 'unknown' });
});

test('layering: every listed exception still occurs (remove fixed ones from the lists)', () => {
  const { edges, node } = findViolations(sources());
  assert.deepEqual([...KNOWN_EDGE_EXCEPTIONS.keys()].filter((k) => !edges.has(k)), []);
  assert.deepEqual([...KNOWN_NODE_EXCEPTIONS.keys()].filter((k) => !node.has(k)), []);
});
