// Writes dist/THIRD-PARTY-LICENSES.txt: the licence of every package whose code the bundles
// hold. An installed mx has no node_modules (the bundles carry its dependencies), so their
// licence texts travel in dist/ instead.
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/** `metafiles`: esbuild's metafiles of the builds, whose inputs are the files bundled. */
export async function writeLicenses({ root, metafiles, outfile }) {
  const packages = new Map();
  for (const input of metafiles.flatMap((m) => Object.keys(m.inputs))) {
    // A plugin's input is NAMESPACE:PATH. The package: the innermost node_modules/NAME/ (or
    // node_modules/@SCOPE/NAME/) of the path.
    const file = path.resolve(root, input.replace(/^[a-z-]+:(?=\/)/, ''));
    const dir = /^(.*[\\/]node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file)?.[1];
    if (dir && !packages.has(dir)) packages.set(dir, licenceOf(dir));
  }
  // Copies of one version in several node_modules/ folders: one section.
  const unique = new Map([...packages.values()].map((licence) => [licence.title, licence]));
  const sections = [...unique.values()]
    .sort((a, b) => a.title.localeCompare(b.title))
    .map(({ title, text }) => `${title}\n${'='.repeat(title.length)}\n\n${text.trim()}\n`);
  await writeFile(outfile, `The licences of the packages bundled into mx's dist/ files.\n\n${sections.join('\n')}`);
}

function licenceOf(dir) {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
  return {
    title: `${pkg.name} ${pkg.version} (${pkg.license ?? 'no licence field'})`,
    text: file ? readFileSync(path.join(dir, file), 'utf8') : `${pkg.license}: the package ships no licence file.`,
  };
}
