// Validate a .glb with the Khronos glTF validator: node validate.mjs FILE.glb -> JSON report.
import { readFileSync } from "node:fs";
import validator from "gltf-validator";

const data = new Uint8Array(readFileSync(process.argv[2]));
const report = await validator.validateBytes(data, { maxIssues: 100 });
console.log(JSON.stringify(report));
