/** Running the suite: the GEMM peak before and after the selected cases, the derived columns and ratios. */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel } from '../src/index.js'; // models on the Node entry's engine (onnxruntime-node)
import { ProgressBar } from '../src/cli/progress.js';
import { VisionmixError } from '../src/errors.js';
import type { VisionModel } from '../src/models/base.js';
import { machineInfo, machineRoofline, measureGemmPeak, type GemmPeak, type MachineInfo, type Roofline } from '../src/tasks/bench.js';
import { cases } from './cases.js';
import { evaluateComparisons, type RatioRow } from './ratios.js';
import type { BenchRow, FinalRow, SuiteContext } from './types.js';

export interface SuiteResult {
  date: Date;
  command: string;
  /** Taken before the first measurement (its load average reflects other work, not ours). */
  machine: MachineInfo;
  threads: number;
  gemmStart: GemmPeak;
  gemmEnd: GemmPeak;
  peakGflops: number;
  /**
   * The machine's fp32 ceiling for these threads: the vector roofline read from the CPU (`how`), or
   * this run's GEMM reading where that was higher (the CPU's reported clock is below its real one).
   */
  roofline: Roofline;
  rows: FinalRow[];
  /** Same-run time ratios (`comparisons`) whose rows this run has. */
  ratios: RatioRow[];
  notes: string[];
  seconds: number;
}

export interface SuiteOptions {
  threads: number;
  /** Only cases whose id contains this text. */
  only?: string;
  /** Status output (default: stderr). */
  stderr?: NodeJS.WriteStream;
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const stderr = opts.stderr ?? process.stderr;
  const tty = stderr.isTTY === true;
  const t0 = performance.now();
  const machine = machineInfo();
  const notes: string[] = [];
  // The suite uses every core it asks for, so any other busy process skews it; the two GEMM
  // readings catch load that changes during the run, the load average load that was already there.
  if (machine.load1 > 0.5)
    notes.push(
      `The machine was busy when the suite started (1-minute load average ${machine.load1.toFixed(2)} on ${machine.cores} cores): ` +
        'other processes competed for the CPU, so every figure here is lower and noisier than on a quiet machine. Rerun when it is idle.',
    );
  const models = new Map<string, VisionModel>();
  const ctx: SuiteContext = {
    threads: opts.threads,
    model(name) {
      let m = models.get(name);
      if (!m) {
        m = createModel(name);
        models.set(name, m);
      }
      return m;
    },
    progress(label, total, imagesPerTick) {
      if (!tty) return { tick() {}, done() {} };
      const bar = new ProgressBar({ total, label, unit: 'run', rateUnit: 'img', rateScale: imagesPerTick, stream: stderr });
      return { tick: () => bar.tick(), done: () => bar.done() };
    },
    log: (message) => void stderr.write(`${message}\n`),
    note: (message) => void notes.push(message),
  };

  const selected = cases.filter((c) => !opts.only || c.id.includes(opts.only));
  if (selected.length === 0) throw new VisionmixError(`no benchmark case id contains '${opts.only}'; ids: ${cases.map((c) => c.id).join(', ')}`);

  ctx.log(`GEMM peak (2048³ fp32 MatMul, ${opts.threads} threads)...`);
  const gemmStart = await measureGemmPeak({ threads: opts.threads });
  ctx.log(`  ${gemmStart.gflops.toFixed(1)} GFLOP/s`);

  const rows: BenchRow[] = [];
  for (const c of selected) {
    ctx.log(`${c.id}...`);
    const got = await c.run(ctx);
    for (const r of got) ctx.log(`  ${r.label} b${r.batch} ${r.runtime}: ${r.msPerImageMin.toFixed(1)} ms/img (min)`);
    rows.push(...got);
  }

  ctx.log('GEMM peak again...');
  const gemmEnd = await measureGemmPeak({ threads: opts.threads });
  ctx.log(`  ${gemmEnd.gflops.toFixed(1)} GFLOP/s`);

  // The peak is what the machine demonstrably did in this run; a lower reading means interference.
  const peakGflops = Math.max(gemmStart.gflops, gemmEnd.gflops);
  const drift = Math.min(gemmStart.gflops, gemmEnd.gflops) / peakGflops;
  if (drift < 0.9)
    notes.push(
      `The two GEMM readings differ by ${((1 - drift) * 100).toFixed(0)}%: the machine was not equally free during the run ` +
        '(other processes, frequency changes), so the fractions of peak below are less certain than usual.',
    );

  const roofline = machineRoofline(opts.threads, peakGflops);
  const finalRows: FinalRow[] = rows.map((r) => {
    if (r.flopsPerImage === undefined) return { ...r };
    const gflops = r.flopsPerImage / (r.msPerImageMin * 1e6);
    return { ...r, gflops, fractionOfPeak: gflops / peakGflops, fractionOfRoofline: gflops / roofline.gflops };
  });
  // A fraction above 1 is never printed without its reason.
  const int8Above = finalRows.filter((r) => r.int8 && ((r.fractionOfPeak ?? 0) > 1 || (r.fractionOfRoofline ?? 0) > 1));
  if (int8Above.length)
    notes.push(
      `${int8Above.map((r) => `${r.label} b${r.batch}`).join(', ')}: int8 arithmetic, above 1 of the fp32 GEMM peak or roofline — ` +
        'its operations counted as fp32 FLOPs, which int8 units do more of per cycle.',
    );
  const abovePeak = finalRows.filter((r) => !r.int8 && (r.fractionOfPeak ?? 0) > 1);
  if (abovePeak.length)
    notes.push(
      `${abovePeak.map((r) => `${r.label} b${r.batch} (${r.fractionOfPeak!.toFixed(2)})`).join(', ')}: above 1 of the GEMM peak because ` +
        "ONNX Runtime's MatMul reaches less than the machine can do (its convolutions use other kernels, e.g. the NCHWc ones for " +
        'inference graphs with constant weights); the roofline column sets them against the machine\'s ceiling.',
    );
  const aboveRoofline = finalRows.filter((r) => !r.int8 && (r.fractionOfRoofline ?? 0) > 1);
  if (aboveRoofline.length)
    notes.push(
      `${aboveRoofline.map((r) => `${r.label} b${r.batch}`).join(', ')}: above 1 of the roofline, which means the clock ran above the ` +
        'one the CPU reports (turbo) or the FLOP count of the row overstates its work (it counts the traced graph\'s MACs, also those ORT skips).',
    );

  return {
    date: new Date(),
    command: commandLine(),
    machine,
    threads: opts.threads,
    gemmStart,
    gemmEnd,
    peakGflops,
    roofline,
    rows: finalRows,
    ratios: evaluateComparisons(rows),
    notes,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** How this process was started, as a user would type it again. */
function commandLine(): string {
  const args = process.argv.slice(2).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  // The script is run.js beside this module.
  const script = relative(process.cwd(), fileURLToPath(new URL('./run.js', import.meta.url))) || 'dist/bench/run.js';
  return ['node', script, ...args].join(' ');
}
