// Builds the browser test's pages into dist/page: the harness (src/page.ts)
// and the README's app flow (src/app.ts) as written, but pointed at the API
// the page is given in ?api= instead of the README's literal address.
import { build } from "esbuild";
import { copyFile, mkdir, readFile } from "node:fs/promises";

const out = "dist/page";
await mkdir(out, { recursive: true });
const common = { bundle: true, target: "es2022", logLevel: "warning" };
await build({ ...common, entryPoints: ["src/page.ts"], format: "esm", outfile: `${out}/page.js` });
await build({
  ...common,
  entryPoints: ["src/app.ts"],
  format: "iife",
  globalName: "app",
  outfile: `${out}/app.js`,
  plugins: [
    {
      name: "api-from-query",
      setup(b) {
        b.onLoad({ filter: /src[\\/]app\.ts$/ }, async (args) => {
          const src = await readFile(args.path, "utf8");
          const literal = 'const API = "http://127.0.0.1:8080";';
          if (!src.includes(literal)) throw new Error(`src/app.ts no longer has ${literal}`);
          const contents = src.replace(literal, 'const API = new URLSearchParams(location.search).get("api")!;');
          return { contents, loader: "ts" };
        });
      },
    },
  ],
});
await copyFile("page/index.html", `${out}/index.html`);
await copyFile("page/app.html", `${out}/app.html`);
