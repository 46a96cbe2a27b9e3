// MoveNet (TF.js graph model) on a stack of crops: N x S x S x 3 uint8 .npy -> N x 17 x 3 float32 .npy
// (y, x in [0, 1] of the crop, score), on the WASM backend (or cpu with --backend cpu).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const [modelPath, inputPath, outputPath, backend = 'wasm'] = process.argv.slice(2);
function readNpy(path) {
  const buf = readFileSync(path);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.slice(10, 10 + headerLen).toString('latin1');
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  if (!header.includes("'|u1'")) throw new Error('expected uint8 npy');
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + 10 + headerLen) };
}
function writeNpy(path, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = header + ' '.repeat(pad) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1'); head[6] = 1; head[7] = 0; head.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)]));
}
const topology = JSON.parse(readFileSync(modelPath, 'utf8'));
const specs = topology.weightsManifest.flatMap(g => g.weights);
const bins = topology.weightsManifest.flatMap(g => g.paths).map(p => readFileSync(join(dirname(modelPath), p)));
const weights = Buffer.concat(bins);
const handler = tf.io.fromMemory({ modelTopology: topology.modelTopology, weightSpecs: specs,
  weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
  format: topology.format, generatedBy: topology.generatedBy, convertedBy: topology.convertedBy });
await tf.setBackend(backend); await tf.ready();
const model = await tf.loadGraphModel(handler);
const { shape, data } = readNpy(inputPath);
const [n, h, w] = shape;
const out = new Float32Array(n * 17 * 3);
const t0 = Date.now();
for (let i = 0; i < n; i++) {
  const image = tf.tensor4d(Int32Array.from(data.subarray(i * h * w * 3, (i + 1) * h * w * 3)), [1, h, w, 3], 'int32');
  const result = model.execute(image);
  out.set(result.dataSync(), i * 51);
  tf.dispose([image, result]);
}
process.stderr.write(`${n} crops, ${((Date.now() - t0) / n).toFixed(0)} ms each (${tf.getBackend()})\n`);
writeNpy(outputPath, [n, 17, 3], out);
