// Type-checks every ```ts block of docs/frontend.md against the client's source (`npm run typecheck:docs`, run by
// `make docs-check` and, through `npm run typecheck`, by `make client-check`). Fails when a block does not compile.
//
// The convention (also written at the top of docs/frontend.md):
// - Each ```ts block is a module of its own, compiled with the client's strict compiler options, as a Vite app
//   would compile it (bundler resolution; `import.meta.env.VITE_AUTH_URL` is a string).
// - `@pet-manager/auth-client` resolves to clients/typescript/src/index.ts.
// - The block right after the comment `<!-- doc-examples: prelude -->` is the prelude: every name it exports, or
//   declares at the top level with `declare`, is in scope in every other block without an import (the blocks must
//   not declare those names again).
// - A block right after `<!-- doc-examples: skip -->` is not checked (keep that for code that is not the client's).
//
// The blocks are written to test/doc-examples/ (generated, git-ignored), one file per block named by its line in
// frontend.md; compiler errors are reported as docs/frontend.md:LINE:COLUMN.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, "..");
const repository = join(client, "..", "..");
const source = process.argv[2] ?? join(repository, "docs", "frontend.md");
const out = join(here, "doc-examples");

/** The ```ts blocks of a Markdown text: {line (1-based, of the first line of code), code, marker}. */
export function tsBlocks(markdown) {
  const lines = markdown.split("\n");
  const blocks = [];
  let marker = null;
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index];
    const comment = /^<!--\s*doc-examples:\s*(\w+)\s*-->\s*$/.exec(line.trim());
    if (comment) {
      marker = comment[1];
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*(\w*)/.exec(line);
    if (!fence) {
      if (line.trim() !== "") marker = null;
      continue;
    }
    const [, indent, ticks, language] = fence;
    const body = [];
    let end = index + 1;
    while (end < lines.length && !lines[end].trimStart().startsWith(ticks)) {
      body.push(lines[end].startsWith(indent) ? lines[end].slice(indent.length) : lines[end]);
      end += 1;
    }
    if (language === "ts" || language === "typescript") {
      blocks.push({ line: index + 2, code: body.join("\n"), marker });
    }
    marker = null;
    index = end;
  }
  return blocks;
}

/** The names a prelude exports: {values, types}. */
function exportedNames(code) {
  const values = [];
  const types = [];
  const pattern = /^export\s+(?:declare\s+)?(?:async\s+)?(const|let|var|function|class|type|interface)\s+([A-Za-z_$][\w$]*)/gm;
  for (const [, kind, name] of code.matchAll(pattern)) {
    (kind === "type" || kind === "interface" ? types : values).push(name);
  }
  return { values, types };
}

const TSCONFIG = {
  extends: "../../tsconfig.json",
  compilerOptions: {
    noEmit: true,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    rootDir: "../..",
    module: "ESNext",
    moduleResolution: "Bundler",
    types: [],
    paths: { "@pet-manager/auth-client": ["../../src/index.ts"] },
  },
  include: ["*.ts"],
};

// What a Vite app's src/vite-env.d.ts gives its code (vite/client, and the app's own variables).
const VITE_ENV = `interface ImportMetaEnv {
  readonly VITE_AUTH_URL: string;
}
interface ImportMeta {
  readonly env: ImportMetaEnv;
}
`;

function main() {
  const blocks = tsBlocks(readFileSync(source, "utf8"));
  if (blocks.length === 0) {
    console.error(`doc-examples: no \`\`\`ts block in ${source}`);
    return 1;
  }
  const preludes = blocks.filter((block) => block.marker === "prelude");
  if (preludes.length > 1) {
    console.error(`doc-examples: ${preludes.length} preludes in ${source}; one at most`);
    return 1;
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "tsconfig.json"), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  writeFileSync(join(out, "vite-env.d.ts"), VITE_ENV);
  const files = new Map(); // file name -> line in the Markdown of its first line
  let imports = "";
  const prelude = preludes[0];
  if (prelude) {
    // Its top-level `declare`s (the app's own functions, say) are exported with the rest.
    const code = prelude.code.replace(/^declare /gm, "export declare ");
    writeFileSync(join(out, "prelude.ts"), `${code}\nexport {};\n`);
    files.set("prelude.ts", prelude.line);
    const { values, types } = exportedNames(code);
    const names = [...values, ...types.map((name) => `type ${name}`)];
    // Placed after the block's code (imports are hoisted), so that the block's lines keep their numbers.
    imports = names.length ? `import { ${names.join(", ")} } from "./prelude";\n` : "";
  }
  let checked = 0;
  for (const block of blocks) {
    if (block === prelude || block.marker === "skip") continue;
    const name = `block-L${block.line}.ts`;
    writeFileSync(join(out, name), `${block.code}\n${imports}export {};\n`);
    files.set(name, block.line);
    checked += 1;
  }
  const tsc = join(client, "node_modules", ".bin", "tsc");
  const result = spawnSync(tsc, ["-p", join(out, "tsconfig.json"), "--pretty", "false"], { encoding: "utf8" });
  if (result.error) {
    console.error(`doc-examples: cannot run ${tsc}: ${result.error.message} (npm ci in clients/typescript)`);
    return 1;
  }
  const shown = relative(repository, source) || source;
  const report = `${result.stdout}${result.stderr}`.replace(
    /(?:^|(?<=\n))(?:[^\n(]*[\\/])?(block-L\d+\.ts|prelude\.ts)\((\d+),(\d+)\)/g,
    (whole, file, line, column) =>
      files.has(file) ? `${shown}:${files.get(file) + Number(line) - 1}:${column}` : whole,
  );
  if (result.status !== 0) {
    process.stderr.write(report);
    console.error(`doc-examples: the examples of ${shown} do not compile against the client (see above)`);
    return 1;
  }
  console.log(`doc-examples: ${checked} examples of ${shown} compile against the client${prelude ? " (with the prelude)" : ""}`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
