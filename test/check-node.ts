// Every test file starts here: the suite needs Node 24 (see DESIGN.md / README).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  throw new Error(
    `polyauth tests need Node >= 24, this is ${process.version}. Run them through npm (npm test), ` +
      'which puts the node@24 devDependency first on PATH.',
  );
}
