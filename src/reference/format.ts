/** What `mx help` and the man page both say about an option, before each marks it up its own way. */
import type { OptionReference } from './reference.js';

/** `-p`, `--profile`: a flag's names, the short one first. */
export function flagNames(option: OptionReference): string[] {
  const dashed = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);
  return [...option.aliases.filter((a) => a.length === 1), option.name, ...option.aliases.filter((a) => a.length > 1)].map(dashed);
}

/** What a flag takes after it: `string`, `json|table|text`; undefined for a boolean. */
export function valueName(option: OptionReference): string | undefined {
  if (option.choices) return option.choices.join('|');
  if (option.type === 'boolean' || option.type === 'count') return undefined;
  return option.type ?? 'value';
}

/** The facts that follow its name: `boolean, on by default ...`, `repeatable`, `required, takes several`. */
export function optionFacts(option: OptionReference, positional: boolean): string[] {
  const facts: string[] = [];
  if (positional || valueName(option) === undefined) facts.push(option.type ?? 'string');
  if (positional) facts.push(option.required ? 'required' : 'optional');
  else if (option.required) facts.push('required');
  if (option.repeatable) facts.push(positional ? 'takes several' : 'repeatable');
  if (option.type === 'boolean' && option.default === true) facts.push(`on by default: --no-${option.name} turns it off`);
  else if (option.default !== undefined) facts.push(`default: ${JSON.stringify(option.default)}`);
  return facts;
}

/** The sentences about other options: what this one cannot go with, and what it needs. */
export function relationNotes(option: OptionReference): string[] {
  return [
    ...(option.conflicts.length ? [`Not with ${option.conflicts.join(', ')}.`] : []),
    ...(option.implies.length ? [`Needs ${option.implies.join(', ')}.`] : []),
  ];
}

/** A positional as the usage line writes it: `<room>`, `[text]`, `<users..>`. */
export function positionalWord(option: OptionReference): string {
  const name = option.name + (option.repeatable ? '..' : '');
  return option.required ? `<${name}>` : `[${name}]`;
}
