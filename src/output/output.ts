import type { Io } from '../io.js';
import { colours, type Colours } from './colour.js';
import { chooseFormat, colourEnabled, type OutputFormat } from './format.js';

export interface TableView<T> {
  head: string[];
  rows: (value: T) => string[][];
}

/** How one command's result looks to people; JSON output is always the value itself. */
export interface View<T> {
  text?: (value: T, c: Colours) => string;
  table?: TableView<T>;
}

/** Writes a command's result to stdout in the chosen format. */
export class Output {
  readonly colours: Colours;

  constructor(
    private readonly io: Io,
    private readonly requested: OutputFormat | undefined,
  ) {
    this.colours = colours(colourEnabled(io.env, io.stdoutIsTTY));
  }

  /** The format a result will take, given the command's own preference for people. */
  format(human: 'table' | 'text' = 'text'): OutputFormat {
    return chooseFormat(this.requested, this.io.stdoutIsTTY, human);
  }

  /** True when results go out as JSON: progress spinners and colour must stay off then. */
  get isJson(): boolean {
    return this.format() === 'json';
  }

  async print<T>(value: T, view: View<T>): Promise<void> {
    const format = this.format(view.table ? 'table' : 'text');
    if (format === 'json' || (!view.text && !view.table)) {
      this.write(JSON.stringify(value, null, this.io.stdoutIsTTY ? 2 : undefined) + '\n');
    } else if (format === 'table' && view.table) {
      this.write(await renderTable(view.table.head, view.table.rows(value), this.io.stdoutIsTTY, this.colours));
    } else if (view.text) {
      const text = view.text(value, this.colours);
      if (text) this.write(text.endsWith('\n') ? text : text + '\n');
    } else {
      // A table-only view asked for as text: tab-separated rows read well enough.
      this.write(await renderTable(view.table!.head, view.table!.rows(value), false, this.colours));
    }
  }

  /**
   * One item of a stream (NDJSON): a compact JSON line, or the item's text line for people.
   * Streams are never pretty-printed, so every line stays one JSON value for jq.
   */
  printItem<T>(value: T, text: (value: T, c: Colours) => string): void {
    this.write(this.format() === 'json' ? JSON.stringify(value) + '\n' : text(value, this.colours) + '\n');
  }

  write(text: string): void {
    this.io.stdout.write(text);
  }
}

/**
 * A boxed table on a terminal; tab-separated lines with a header when piped (easy for cut
 * and awk). cli-table3 is loaded only here, so commands that print no table never pay for it.
 */
async function renderTable(head: string[], rows: string[][], boxed: boolean, c: Colours): Promise<string> {
  if (!boxed) return [head, ...rows].map((row) => row.join('\t')).join('\n') + '\n';
  const { default: Table } = await import('cli-table3');
  const table = new Table({ head: head.map((h) => c.bold(h)), style: { head: [], border: [] } });
  table.push(...rows);
  return table.toString() + '\n';
}
