#!/usr/bin/env node
// Runs a TF.js graph model (model.json + .bin weights, read from disk) on the pure-JS CPU
// backend of @tensorflow/tfjs and writes the requested node outputs as .npy files: the
// reference that openhmr's PyTorch imports of the MoveNet networks are checked against.
// Driven by tools/tfjs_reference.py; see its docstring for how the fixtures are regenerated.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

const USAGE = `usage: node run_graph.mjs --model MODEL.json --input IMAGE.npy --out DIR
                        [--repeat N] [--warmup K] [--node NAME]... [--list-nodes]

Loads the TF.js graph model MODEL.json (weights: the files its weightsManifest names, beside
it), feeds IMAGE.npy (uint8 or int32, or float32 for float models; shape 1 x H x W x 3, C
order) to the model's input and writes, in DIR:
  output.npy           the model's final output (its signature output, e.g. Identity:0;
                       the first one where there are several: name the others with --node)
  <node>.npy           each --node NAME (a node name as in modelTopology.node, optionally
                       with :k for output k; '/' and ':' become '__' and '_' in the file name)
  outputs.json         [{name, file, shape, dtype}] for every file written, output first
  timing.json          mean/min/max wall ms and mean CPU ms of N timed runs of the final
                       output alone, after the run that wrote the files above and K more
                       untimed warm-up runs (defaults N = 1, K = 1; --repeat 0: no timing
                       runs and no timing.json)
Float tensors are written as little-endian float32; int32/bool nodes as int32.
--list-nodes prints "op name" for every node of the graph and exits.`;

function fail(message, showUsage = false) {
  process.stderr.write(`run_graph: ${message}\n`);
  if (showUsage) process.stderr.write(`\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { nodes: [], repeat: 1, warmup: 1, listNodes: false };
  const needValue = (i) => {
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`, true);
    return argv[i + 1];
  };
  const count = (flag, text, min) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) fail(`${flag} must be an integer >= ${min}, got ${text}`, true);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--model') args.model = needValue(i++);
    else if (a === '--input') args.input = needValue(i++);
    else if (a === '--out') args.out = needValue(i++);
    else if (a === '--node') args.nodes.push(needValue(i++));
    else if (a === '--repeat') args.repeat = count(a, needValue(i++), 0);
    else if (a === '--warmup') args.warmup = count(a, needValue(i++), 0);
    else if (a === '--list-nodes') args.listNodes = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)}`, true);
  }
  if (!args.model) fail('--model is required', true);
  if (!args.listNodes && (!args.input || !args.out)) fail('--input and --out are required', true);
  return args;
}

// ---- .npy reading and writing (format versions 1.0, 2.0, 3.0; C order only) ----

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const NPY_TYPES = {
  u1: { size: 1, get: (v, o) => v.getUint8(o) },
  i1: { size: 1, get: (v, o) => v.getInt8(o) },
  u2: { size: 2, get: (v, o, le) => v.getUint16(o, le) },
  i2: { size: 2, get: (v, o, le) => v.getInt16(o, le) },
  i4: { size: 4, get: (v, o, le) => v.getInt32(o, le) },
  u4: { size: 4, get: (v, o, le) => v.getUint32(o, le) },
  f4: { size: 4, get: (v, o, le) => v.getFloat32(o, le) },
  f8: { size: 8, get: (v, o, le) => v.getFloat64(o, le) },
};

function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) fail(`${path}: not a .npy file`);
  const major = buf[6];
  let headerLen;
  let offset;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else fail(`${path}: unsupported .npy version ${major}`);
  const header = buf.subarray(offset, offset + headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) fail(`${path}: cannot parse .npy header ${header}`);
  if (fortran[1] === 'True') fail(`${path}: Fortran-order arrays are not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const m = /^([<>|=])([uif])(\d)$/.exec(descr[1]);
  const kind = m && NPY_TYPES[m[2] + m[3]];
  if (!kind) fail(`${path}: unsupported dtype ${descr[1]}`);
  const littleEndian = m[1] !== '>'; // '|' (1 byte) and '=' (native: x86/arm are little) too
  const n = dims.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  if (buf.length - start !== n * kind.size) {
    fail(`${path}: ${buf.length - start} data bytes for shape (${dims}) of ${descr[1]}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset + start, n * kind.size);
  const isFloat = m[2] === 'f';
  const data = isFloat ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = kind.get(view, i * kind.size, littleEndian);
  return { data, shape: dims, dtype: descr[1], isFloat };
}

function writeNpy(path, data, shape) {
  const isInt = data instanceof Int32Array;
  const descr = isInt ? '<i4' : '<f4';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 65535) fail('shape too long for a .npy 1.0 header');
  const head = Buffer.alloc(10);
  NPY_MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) {
    if (isInt) body.writeInt32LE(data[i], i * 4);
    else body.writeFloatLE(data[i], i * 4);
  }
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

// ---- model loading from disk ----

function diskHandler(modelPath) {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(modelPath, 'utf8'));
      if (!json.modelTopology || !json.weightsManifest) {
        throw new Error(`${modelPath}: not a TF.js model.json (no modelTopology/weightsManifest)`);
      }
      const weightSpecs = [];
      const parts = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) parts.push(readFileSync(join(dirname(modelPath), p)));
      }
      const all = Buffer.concat(parts);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
        modelInitializer: json.modelInitializer,
      };
    },
  };
}

function fileName(name) {
  return `${name.replace(/\//g, '__').replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // tfjs prints a hint about tfjs-node with console.log; keep stdout for our own report.
  console.log = (...a) => process.stderr.write(`${a.join(' ')}\n`);
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  await tf.ready();

  const modelPath = resolve(args.model);
  if (args.listNodes) {
    const json = JSON.parse(readFileSync(modelPath, 'utf8'));
    for (const node of json.modelTopology.node) process.stdout.write(`${node.op} ${node.name}\n`);
    return;
  }
  const model = await tf.loadGraphModel(diskHandler(modelPath));
  if (model.inputs.length !== 1) fail(`expected a model with one input, got ${model.inputs.length}`);
  const input = model.inputs[0];
  const outputName = model.outputs[0].name;

  const image = readNpy(resolve(args.input));
  if (image.shape.length !== 4 || image.shape[0] !== 1 || image.shape[3] !== 3) {
    fail(`${args.input}: expected shape 1 x H x W x 3, got (${image.shape})`);
  }
  const wanted = input.shape || [];
  for (let k = 1; k < 3; k++) {
    if (wanted[k] > 0 && wanted[k] !== image.shape[k]) {
      process.stderr.write(`run_graph: note: the signature's input is (${wanted}), the image is (${image.shape})\n`);
      break;
    }
  }
  const inputDtype = input.dtype === 'float32' ? 'float32' : 'int32';
  if (inputDtype === 'int32' && image.isFloat) fail(`${args.input}: a float image for an int32 input`);
  const x = tf.tensor(image.data, image.shape, inputDtype);
  const feed = { [input.name]: x };

  let useAsync = false;
  const run = async (names) => {
    if (!useAsync) {
      try {
        return model.execute(feed, names);
      } catch (err) {
        if (!/executeAsync/.test(String(err && err.message))) throw err;
        useAsync = true;
      }
    }
    return model.executeAsync(feed, names);
  };

  const names = [outputName, ...args.nodes];
  const results = await run(names);
  const tensors = Array.isArray(results) ? results : [results];
  mkdirSync(resolve(args.out), { recursive: true });
  const manifest = [];
  for (let k = 0; k < names.length; k++) {
    const t = tensors[k];
    const isFloat = t.dtype === 'float32';
    const values = t.dataSync();
    const data = isFloat ? values : Int32Array.from(values, Number);
    const file = k === 0 ? 'output.npy' : fileName(names[k]);
    writeNpy(join(resolve(args.out), file), data, t.shape);
    manifest.push({ name: names[k], file, shape: t.shape, dtype: isFloat ? 'float32' : 'int32' });
    process.stdout.write(`${names[k]} ${JSON.stringify(t.shape)} ${t.dtype}\n`);
  }
  tf.dispose(tensors.filter((t) => t !== x)); // a requested input node returns x itself
  writeFileSync(join(resolve(args.out), 'outputs.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  // Timing: the final output alone, its data read back (the CPU backend is synchronous).
  if (args.repeat === 0) {
    x.dispose();
    model.dispose();
    return;
  }
  // CPU time (this process, all threads) is reported too: it is what a busy machine inflates
  // the wall time over, and the CPU backend computes on the main thread alone.
  const once = async () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const y = await run(outputName);
    y.dataSync();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    y.dispose();
    return [ms, (cpu.user + cpu.system) / 1000];
  };
  for (let k = 0; k < args.warmup; k++) await once();
  const times = [];
  const cpuTimes = [];
  for (let k = 0; k < args.repeat; k++) {
    const [ms, cpuMs] = await once();
    times.push(ms);
    cpuTimes.push(cpuMs);
  }
  const timing = {
    model: modelPath,
    input_shape: image.shape,
    input_dtype: inputDtype,
    backend: tf.getBackend(),
    tfjs_version: tf.version.tfjs,
    node_version: process.version,
    execute: useAsync ? 'executeAsync' : 'execute',
    warmup: args.warmup,
    repeat: args.repeat,
    mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
    min_ms: Math.min(...times),
    max_ms: Math.max(...times),
    runs_ms: times,
    mean_cpu_ms: cpuTimes.reduce((a, b) => a + b, 0) / cpuTimes.length,
    runs_cpu_ms: cpuTimes,
  };
  writeFileSync(join(resolve(args.out), 'timing.json'), `${JSON.stringify(timing, null, 2)}\n`);
  const mean = timing.mean_ms.toFixed(1);
  const cpuMean = timing.mean_cpu_ms.toFixed(1);
  process.stdout.write(`timing: mean ${mean} ms (CPU ${cpuMean} ms) over ${args.repeat} runs\n`);
  x.dispose();
  model.dispose();
}

main().catch((err) => {
  process.stderr.write(`run_graph: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
