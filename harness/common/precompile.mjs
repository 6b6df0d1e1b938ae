// Precompiled TypeScript for start-up: an entry file and its local imports bundled by esbuild into one ES module,
// cached on disk and rebuilt when any of its source files changes (by content). Plain JavaScript because it runs before any
// TypeScript support. Why: under tsx every module — each of the AWS SDK's hundreds of files included — goes
// through loader hooks on another thread; a bundle of the local code with its packages left as ordinary imports
// loads them natively (and from node's compile cache), which roughly halves a cold start here.
//
// What keeps the bundle equivalent to the sources: packages stay outside it, loaded by node from the bundle's
// folder (those node loads as CommonJS through `require`, see packagesOutside), so the bundle lives in the
// node_modules/.cache of the folder whose node_modules every source file resolves from (no bundle when they
// differ); `import.meta.url` (and dirname/filename) keep each file's own value; inline source maps keep stack traces
// pointing at the sources.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import module, { createRequire, isBuiltin } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// Bumped when the way bundles are built changes: bundles of an earlier format are rebuilt.
const FORMAT = 3;
const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'tsx', '.js': 'js', '.mjs': 'js', '.jsx': 'jsx' };

/** The folder holding the node_modules a file's bare imports resolve from first, or undefined. */
function packagesRoot(file) {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

const isPackageFile = (file) => file.includes(`${join('/', 'node_modules')}/`) || file.includes('\\node_modules\\');

// The contents' hash, not size and mtime: an edit within one clock tick of the last, same size, still counts. A
// package's entry file (noted so that a reinstall that changes how it loads rebuilds) by size and mtime.
const stamp = (file) => {
  if (!isPackageFile(file)) return createHash('sha1').update(readFileSync(file)).digest('hex');
  const { size, mtimeMs } = statSync(file);
  return `${size}:${mtimeMs}`;
};

/** Whether node loads `file` as CommonJS: .cjs, or .js outside a "type": "module" package with no ES module syntax. */
function isCommonJs(file) {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); dirname(dir) !== dir; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    if (JSON.parse(readFileSync(manifest, 'utf8')).type === 'module') return false;
    break;
  }
  // Node 22 loads a typeless .js that has import/export statements as an ES module.
  return !/^\s*(?:import\s*[{*'"]|import\s+\w|export\s*[{*]|export\s+\w)/m.test(readFileSync(file, 'utf8'));
}

// How the bundle requires the CommonJS packages: from its own folder, which resolves them as its sources do (below).
const REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const __requirePackage = __createRequire(import.meta.url);";

/**
 * Packages stay outside the bundle, loaded by node from node_modules as before; those node loads as CommonJS, and
 * node's built-ins, are required rather than imported. Why: an ES module importing CommonJS makes node parse the
 * package's source (cjs-module-lexer, following every re-export) to list its named exports — ~100 ms of a Lambda
 * container's cold start here, for the AWS SDK and graphql; `require` skips that. Named imports are then read off
 * module.exports and the default import is module.exports: esbuild's interop, the one the deployed bundle uses. A
 * package whose import and require resolve to different files (a dual package) or to an ES module stays an import.
 * One difference from node's own order: imports are evaluated before the bundle's code, required packages where
 * esbuild places them (in module order), as in the deployed bundle.
 */
const packagesOutside = (required) => ({
  name: 'packages-outside',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.resolving) return undefined;
      const external = { path: args.path, external: true };
      if (args.kind !== 'import-statement' && args.kind !== 'dynamic-import') return external;
      // Node's built-ins too: importing one as an ES module reads all its exports, lazy ones included (node:http's
      // WebSocket loads undici: 30–50 ms of a cold start, for a class nothing here uses).
      if (isBuiltin(args.path)) return { path: args.path, namespace: 'require-package' };
      const imported = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { resolving: true },
      });
      if (imported.errors.length || !imported.path) return external;
      let requiredFile;
      try {
        requiredFile = createRequire(args.importer).resolve(args.path);
      } catch {
        return external;
      }
      if (requiredFile !== imported.path || !isCommonJs(requiredFile)) return external;
      required.add(requiredFile);
      return { path: args.path, namespace: 'require-package' };
    });
    build.onLoad({ filter: /.*/, namespace: 'require-package' }, (args) => ({
      contents: `module.exports = __requirePackage(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
});

/**
 * Keeps each bundled file's own import.meta.url/dirname/filename (they would otherwise be the bundle's), and notes
 * the hash of the text it bundled (a file edited during the build then leaves the bundle out of date, as it is).
 */
const ownImportMeta = (read) => ({
  name: 'own-import-meta',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      read.set(args.path, createHash('sha1').update(source).digest('hex'));
      const loader = LOADERS[extname(args.path)] ?? 'js';
      if (!source.includes('import.meta.')) return { contents: source, loader };
      const contents = source
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path));
      return { contents, loader };
    });
  },
});

/**
 * The path of an up-to-date bundle of `entry` (an absolute .ts/.mts file), building it if needed; undefined when
 * the entry cannot be precompiled faithfully (not TypeScript, no node_modules above it, sources resolving packages
 * from different folders, or a build error — the caller then loads the sources as before, and reports any error).
 */
export async function precompiled(entry) {
  if (!/\.m?ts$/.test(entry)) return undefined;
  const root = packagesRoot(entry);
  if (!root) return undefined;
  const cacheDir = join(root, 'node_modules', '.cache', 'emulator-precompiled');
  const key = createHash('sha256').update(entry).digest('hex').slice(0, 16);
  const bundle = join(cacheDir, `${key}.mjs`);
  const manifestFile = join(cacheDir, `${key}.json`);
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    if (manifest.format === FORMAT && manifest.inputs.every(([file, was]) => stamp(file) === was) && existsSync(bundle)) return bundle;
  } catch {
    // No manifest yet, or a source file is gone: build.
  }
  const { build } = await import('esbuild');
  const read = new Map();
  const required = new Set();
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      banner: { js: REQUIRE_BANNER },
      sourcemap: 'inline',
      metafile: true,
      write: false,
      logLevel: 'silent',
      plugins: [packagesOutside(required), ownImportMeta(read)],
    });
  } catch {
    return undefined;
  }
  const inputs = Object.keys(result.metafile.inputs)
    .filter((file) => !file.startsWith('require-package:'))
    .map((file) => resolve(file));
  if (inputs.some((file) => packagesRoot(file) !== root)) return undefined;
  mkdirSync(cacheDir, { recursive: true });
  // Written aside and renamed: containers starting at once may build the same bundle; each rename is atomic.
  const tmp = `${bundle}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, bundle);
  writeFileSync(
    `${tmp}.json`,
    JSON.stringify({ format: FORMAT, entry, inputs: [...inputs, ...required].map((file) => [file, read.get(file) ?? stamp(file)]) }),
  );
  renameSync(`${tmp}.json`, manifestFile);
  return bundle;
}

/**
 * Runs a CLI's TypeScript entry (`npm run emulate`, `npm run scenarios`): from its precompiled bundle with node's
 * compile cache on, or through tsx when the bundle cannot be made.
 */
export async function runEntry(entry) {
  module.enableCompileCache?.();
  const bundle = await precompiled(entry);
  if (bundle) return import(pathToFileURL(bundle).href);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(entry).href);
}
