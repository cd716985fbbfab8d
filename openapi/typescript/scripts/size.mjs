// Bundled, minified and gzipped size of what an app ships: the typed client,
// Sessions and Realtime (openapi-fetch included), for a browser, with esbuild.
// With CENTRIFUGE_DIR (a folder where `npm install centrifuge` ran), measures
// centrifuge-js's Centrifuge the same way, for comparison.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function measure(name, contents, resolveDir) {
  const out = await build({
    stdin: { contents, resolveDir, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    write: false,
    logLevel: "warning",
  });
  const code = out.outputFiles[0].contents;
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`${name}: ${code.length} B minified, ${gz} B gzipped`);
}

await measure("openapi-fetch alone", `export { default } from "openapi-fetch";`, root);
await measure(
  "@jarvis-core/client (client + sessions + realtime)",
  `export { createJarvisClient, Sessions, Realtime } from "./src/index.ts";`,
  root,
);
if (process.env.CENTRIFUGE_DIR) {
  await measure("centrifuge-js (Centrifuge)", `export { Centrifuge } from "centrifuge";`, process.env.CENTRIFUGE_DIR);
}
