/**
 * Build the annotator into samkit's package (src/samkit/serve/static), served by `samkit serve` at "/".
 *
 * onnxruntime-web loads its wasm runtime at run time from `env.wasm.wasmPaths`; we copy those files
 * from node_modules into the bundle (ort/) so the page never reaches a CDN.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "../src/samkit/serve/static");
// The plain (non-JSEP) threaded SIMD build is all the wasm execution provider needs.
const ORT_FILES = ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"];

function copyOrtRuntime(): Plugin {
  return {
    name: "samkit-copy-ort-runtime",
    apply: "build",
    closeBundle() {
      const src = resolve(here, "node_modules/onnxruntime-web/dist");
      mkdirSync(resolve(outDir, "ort"), { recursive: true });
      for (const f of ORT_FILES) copyFileSync(resolve(src, f), resolve(outDir, "ort", f));
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  plugins: [copyOrtRuntime()],
  resolve: {
    // ort's "extern wasm" build loads its wasm glue (.mjs) and binary from env.wasm.wasmPaths at run
    // time instead of inlining them; its worker threads then load that same small .mjs, not our bundle.
    alias: { "onnxruntime-web/wasm": resolve(here, "node_modules/onnxruntime-web/dist/ort.wasm.min.mjs") },
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
} as Parameters<typeof defineConfig>[0]);
