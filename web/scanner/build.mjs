// Builds the door app into dist/: the bundled script, the static shell, a service worker that precaches exactly
// this build (its cache is named after the content's hash), and config.json (the API's URL; empty = same origin).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";

const output = "dist";
// Phones from the last few years: Chrome/WebView and Safari that have IndexedDB, service workers and ES2020 (Safari 15 for its destructuring).
const target = ["chrome90", "safari15", "firefox90"];

await rm(output, { recursive: true, force: true });
await mkdir(output, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  target,
  outfile: `${output}/app.js`,
  legalComments: "none",
});
for (const file of await readdir("static")) await copyFile(`static/${file}`, `${output}/${file}`);
const apiBaseUrl = (process.env.SCANNER_API_BASE_URL ?? "").replace(/\/+$/, "");
await writeFile(`${output}/config.json`, JSON.stringify({ api_base_url: apiBaseUrl }) + "\n");

const shell = (await readdir(output)).filter((file) => file !== "config.json").sort();
const hash = createHash("sha256");
for (const file of shell) hash.update(file).update(await readFile(`${output}/${file}`));
await build({
  entryPoints: ["src/service-worker.ts"],
  bundle: true,
  minify: true,
  format: "iife",
  target,
  outfile: `${output}/service-worker.js`,
  define: {
    CACHE_NAME: JSON.stringify(`crowdify-door-${hash.digest("hex").slice(0, 16)}`),
    SHELL_FILES: JSON.stringify(["./", ...shell.filter((file) => file !== "index.html"), "config.json"]),
  },
});
console.log(`door app built into web/scanner/${output}/ (${shell.length + 2} files)`);
