// Writes the cel-spec conformance tests, which @bufbuild/cel-spec ships as a JavaScript object
// literal of proto-JSON `SimpleTest`s, to a plain JSON file that the Rust test harness reads.
import { writeFileSync, mkdirSync } from "node:fs";
import { tests } from "@bufbuild/cel-spec/testdata/conformance.js";

const outDir = new URL("./node_modules/.tributary/", import.meta.url);
mkdirSync(outDir, { recursive: true });
writeFileSync(new URL("conformance.json", outDir), JSON.stringify(tests));
console.log(`wrote ${new URL("conformance.json", outDir).pathname}`);
