// ort_run.js — runs ONNX models in ONNX Runtime (npm onnxruntime-node) for tests/onnx.
//   node ort_run.js ORT_MODULE_DIR JOBS.json
// JOBS.json: [{"model": M.onnx, "input": X.npy, "out": Y.npy, "optimization": LEVEL}, ...].
// Each model is run on its X (float32 .npy, C order) as the feed "input", with ORT's graph
// optimization level LEVEL ("disabled", "basic", "extended", "all"; default "all"), on one
// thread; the output "logits" is written to Y as float32 .npy. One process for every job:
// onnxruntime-node loads once. Exit status 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(file + ': not an .npy file');
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(file + ': expected little-endian float32 in C order, header ' + header);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
    .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const off = start + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(off + 4 * i);
  return { shape, data };
}

function writeNpy(file, shape, data) {
  let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
    shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [modDir, jobsFile] = process.argv.slice(2);
  const ort = require(path.join(modDir, 'node_modules', 'onnxruntime-node'));
  const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  for (const job of jobs) {
    const x = readNpy(job.input);
    const session = await ort.InferenceSession.create(job.model, {
      intraOpNumThreads: 1,
      graphOptimizationLevel: job.optimization || 'all',
    });
    const res = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
    const name = session.outputNames[0];   // logits, or probabilities (softmax before the loss)
    const y = res[name];
    writeNpy(job.out, y.dims, y.data);
    console.log(`${job.model} (optimization ${job.optimization || 'all'}): ${name} [${y.dims.join(', ')}]`);
  }
}

main().catch((e) => {
  console.error('ort_run: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
