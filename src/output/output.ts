/**
 * The output layer: everything mx writes to stdout and stderr goes through here, so that the
 * format rules hold everywhere. Results and stream items go to stdout (JSON, NDJSON, tables or
 * text); warnings, notices and debug lines go to stderr, as JSON lines in JSON mode (so a
 * script reading stderr as JSON lines never meets a stray text line) and as `mx: ...` otherwise.
 * Errors are written by reportError (errors.ts), in the same two shapes.
 *
 * Text for people is made safe here, so that no command can forget it (safe-text.ts): a view
 * renders a copy of the value whose strings are neutralised, and the text it makes passes a
 * filter that lets through only mx's own colours and layout. JSON stays exact.
 */
import type { Io } from '../io.js';
import { colours, type Colours } from './colour.js';
import { chooseFormat, colourEnabled, type OutputFormat } from './format.js';
import { jsonText, oneLine, safeValue, showControls, shown, terminalText } from './safe-text.js';

export interface TableView<T> {
  head: string[];
  rows: (value: T) => string[][];
}

/** How one command's result looks to people; JSON output is always the value itself. */
export interface View<T> {
  text?: (value: T, c: Colours) => string;
  table?: TableView<T>;
}

export class Output {
  readonly colours: Colours;
  /** Writes one debug line to stderr; undefined unless --debug (or MX_DEBUG) is on. */
  readonly debug: ((line: string) => void) | undefined;

  constructor(
    private readonly io: Io,
    private readonly requested: OutputFormat | undefined,
    debug = false,
  ) {
    this.colours = colours(colourEnabled(io.env, io.stdoutIsTTY));
    this.debug = debug ? (line) => io.stderr.write(`[debug] ${showControls(line)}\n`) : undefined;
  }

  /** The format a result will take, given the command's own preference for people. */
  format(human: 'table' | 'text' = 'text'): OutputFormat {
    return chooseFormat(this.requested, this.io.stdoutIsTTY, human);
  }

  /** True when results go out as JSON: progress spinners and colour must stay off then. */
  get isJson(): boolean {
    return this.format() === 'json';
  }

  /** A command's result, in the chosen format. */
  async print<T>(value: T, view: View<T>): Promise<void> {
    const format = this.format(view.table ? 'table' : 'text');
    if (format === 'json' || (!view.text && !view.table)) {
      this.io.stdout.write(jsonText(JSON.stringify(value, null, this.io.stdoutIsTTY ? 2 : undefined) + '\n', this.io.stdoutIsTTY));
      return;
    }
    const safe = safeValue(value);
    if (format === 'table' && view.table) {
      this.writeText(await renderTable(view.table.head, view.table.rows(safe), this.io.stdoutIsTTY, this.colours));
    } else if (view.text) {
      const text = view.text(safe, this.colours);
      if (text) this.writeText(text.endsWith('\n') ? text : text + '\n');
    } else {
      // A table-only view asked for as text: tab-separated rows read well enough.
      this.writeText(await renderTable(view.table!.head, view.table!.rows(safe), false, this.colours));
    }
  }

  /**
   * One item of a stream: a compact JSON line (NDJSON: never pretty-printed, so every line is one
   * JSON value for jq) or the item's text line. Resolves once the line was handed to the OS;
   * rejects with the write's error (EPIPE when the reader has gone).
   */
  item<T>(value: T, text: (value: T, c: Colours) => string): Promise<void> {
    if (this.format() === 'json') return this.writeConfirmed(jsonText(JSON.stringify(value) + '\n', this.io.stdoutIsTTY));
    return this.writeConfirmed(terminalText(text(safeValue(value), this.colours)) + '\n');
  }

  /**
   * Bytes as they are (a raw API answer). A terminal gets only text (binary is refused before it
   * comes here), shown as text for people: its line breaks and tabs kept, other controls shown.
   */
  writeBytes(bytes: Uint8Array): Promise<void> {
    if (!this.io.stdoutIsTTY) return this.writeConfirmed(bytes);
    return this.writeConfirmed(terminalText(Buffer.from(bytes).toString('utf8').replace(/\r\n/g, '\n')));
  }

  /** Resolves true once everything written to stdout so far was handed to the OS, false if it failed. */
  flushed(): Promise<boolean> {
    return this.writeConfirmed('').then(() => true, () => false);
  }

  /** Help or usage text asked for by the user (stdout; it may quote the arguments, so it is filtered as text). */
  help(text: string): void {
    this.writeText(text.endsWith('\n') ? text : text + '\n');
  }

  /** Something the user should know that did not stop the command. */
  warn(message: string): void {
    this.toStderr('warning', message, {});
  }

  /** A progress or state change of a long-running command (a reconnect, say), with machine-readable fields. */
  notice(message: string, fields: Record<string, unknown> = {}): void {
    this.toStderr('notice', message, fields);
  }

  private toStderr(kind: 'warning' | 'notice', message: string, fields: Record<string, unknown>): void {
    this.io.stderr.write(
      this.isJson
        ? jsonText(JSON.stringify({ [kind]: { message, ...fields } }) + '\n', this.io.stderrIsTTY)
        : `mx: ${kind === 'warning' ? 'warning: ' : ''}${showControls(message)}\n`,
    );
  }

  /** Text for a person: only mx's own colours and layout reach the terminal. */
  private writeText(text: string): void {
    this.io.stdout.write(terminalText(text));
  }

  private writeConfirmed(chunk: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.io.stdout.write(chunk, (error) => (error ? reject(error) : resolve())));
  }
}

/**
 * cli-table3 lays a table out in time quadratic in its rows (it looks for cells spanning
 * others): a long table is drawn in slices of this many rows, with one set of column widths,
 * and the slices joined into the table it would have drawn (20,000 rows: half a minute whole).
 */
const TABLE_SLICE_ROWS = 200;

/**
 * A boxed table on a terminal; tab-separated lines with a header when piped (easy for cut
 * and awk). cli-table3 is loaded only here, so commands that print no table never pay for it.
 */
async function renderTable(head: string[], rawRows: string[][], boxed: boolean, c: Colours): Promise<string> {
  // A cell is one line with no tab in it: a line break would split its row, a tab shift the
  // columns after it. (A cell that is not a string, from a field a server got wrong, is shown.)
  const rows = rawRows.map((row) => row.map((cell) => oneLine(shown(cell))));
  if (!boxed) return [head, ...rows].map((row) => row.join('\t')).join('\n') + '\n';
  const { default: Table } = await import('cli-table3');
  const draw = (slice: string[][], withHead: boolean, colWidths: number[] = []) => {
    const table = new Table({ head: withHead ? head.map((h) => c.bold(h)) : [], colWidths, style: { head: [], border: [] } });
    table.push(...slice);
    return table.toString();
  };
  if (rows.length <= TABLE_SLICE_ROWS) return draw(rows, true) + '\n';
  const slices: string[][][] = [];
  for (let i = 0; i < rows.length; i += TABLE_SLICE_ROWS) slices.push(rows.slice(i, i + TABLE_SLICE_ROWS));
  // A slice's top border (`┌────┬──┐`) shows its column widths; the widest of each serves all slices.
  const widths = head.map(() => 0);
  slices.forEach((slice, i) => {
    const drawn = draw(slice, i === 0);
    drawn.slice(1, drawn.indexOf('\n') - 1).split('┬').forEach((border, col) => (widths[col] = Math.max(widths[col]!, border.length)));
  });
  // Joined as one table: each slice's bottom border and the next one's top give way to a row separator.
  const separator = `├${widths.map((width) => '─'.repeat(width)).join('┼')}┤`;
  const last = slices.length - 1;
  const parts = slices.map((slice, i) => draw(slice, i === 0, widths).split('\n').slice(i === 0 ? 0 : 1, i === last ? undefined : -1).join('\n'));
  return parts.join(`\n${separator}\n`) + '\n';
}
