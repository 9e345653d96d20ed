// Builds the waiting-room page into dist/: the bundled script and the static shell (index.html, app.css).
// No service worker: the page is only useful online, and a cached shell would only hide a newer build on sale day.
import { build } from "esbuild";
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";

const output = "dist";
// The door app's targets: phones from the last few years (Safari 15 for its destructuring).
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
console.log(`waiting-room page built into web/queue/${output}/`);
