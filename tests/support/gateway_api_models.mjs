// Validates Gateway API objects with the npm package @kubernetes-models/gateway-api (its compiled
// validators of the upstream CRD schemas). Reads a JSON list of objects on stdin; prints a JSON list
// with one list of problems per object. argv[2] is the package's folder.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const root = process.argv[2];
const objects = JSON.parse(readFileSync(0, "utf8"));
const found = [];
for (const object of objects) {
  const [group, version] = String(object.apiVersion).split("/");
  const url = pathToFileURL(`${root}/${group}/${version}/${object.kind}.js`).href;
  let model;
  try {
    model = (await import(url))[object.kind];
  } catch {
    found.push([`no model for ${object.apiVersion} ${object.kind} in ${root}`]);
    continue;
  }
  try {
    new model(object).validate();
    found.push([]);
  } catch (error) {
    found.push([error.message]);
  }
}
process.stdout.write(JSON.stringify(found));
