// Fails fast, with the fix, when a script runs on a Node older than 24.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `polyauth needs Node.js 24 or newer; this is ${process.version}.\n` +
      'Run it through npm (npm start, npm test): npm puts the node@24 devDependency\n' +
      'from node_modules/.bin first on PATH. Run `npm install` first if it is missing.',
  );
  process.exit(1);
}
