/**
 * Building event content from send's flags. Pure functions (markdown rendering is passed in,
 * so the `marked` module is only loaded when --markdown is used); every problem is a
 * UsageError found before any request.
 */
import { UsageError } from '../errors.js';
import { printable } from '../matrix/identifiers.js';

export type Content = Record<string, unknown>;

/** Synapse (and the spec) refuse events over 65,536 bytes of canonical JSON, envelope included. */
export const MAX_EVENT_BYTES = 65_536;
export const HTML_FORMAT = 'org.matrix.custom.html';

/** Markdown to HTML, synchronous once loaded. */
export type MarkdownRenderer = (markdown: string) => string;

export interface TextOptions {
  msgtype: string;
  /** --html: the formatted body as given. */
  html?: string;
  /** --markdown: renders the text into formatted_body. */
  markdown?: MarkdownRenderer;
}

/** The content of a text-like message (m.text, m.notice, m.emote, custom msgtypes). */
export async function textContent(text: string | undefined, options: TextOptions): Promise<Content> {
  const { msgtype, html, markdown } = options;
  if (html !== undefined) {
    if (isBlank(html)) throw new UsageError('empty --html: give the formatted message');
    const body = text ?? (await htmlToPlain(html));
    if (isBlank(body)) throw new UsageError('the --html has no text to use as the plain body: give TEXT as well');
    return { msgtype, body, format: HTML_FORMAT, formatted_body: html };
  }
  if (text === undefined || isBlank(text)) throw new UsageError('empty message: give the text to send');
  if (markdown) {
    const formatted = markdown(text).replace(/\n+$/, '');
    // Like Element: Markdown that renders to nothing but the text itself adds no formatted_body.
    if (!(await rendersAsPlain(formatted, text))) return { msgtype, body: text, format: HTML_FORMAT, formatted_body: formatted };
  }
  return { msgtype, body: text };
}

/** Only whitespace (or nothing): never worth a message. */
export function isBlank(text: string): boolean {
  return text.trim() === '';
}

/**
 * A plain-text rendering of HTML for the `body` fallback: line breaks for <br> and block
 * ends, tags dropped, entities decoded. Not a sanitiser (the HTML is sent as given).
 */
export async function htmlToPlain(html: string): Promise<string> {
  const decodeHTML = await loadDecoder();
  return decodeHTML(
    html
      .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
      .replace(/<br\s*\/?>/gi, '\n')
      .replace(/<\/(p|div|h[1-6]|li|tr|blockquote|pre|ul|ol|table)\s*>/gi, '\n')
      .replace(/<[^>]*>/g, ''),
  )
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** `<p>text</p>` (with <br> for line breaks) and nothing more. */
async function rendersAsPlain(html: string, text: string): Promise<boolean> {
  const inner = /^<p>([\s\S]*)<\/p>$/.exec(html)?.[1]?.replace(/<br>\n?/g, '\n');
  return inner !== undefined && !inner.includes('<') && (await loadDecoder())(inner) === text;
}

/** The HTML entity decoder (its tables are large: loaded only when HTML is read). */
async function loadDecoder(): Promise<(html: string) => string> {
  return (await import('entities/decode')).decodeHTML;
}

/** --markdown: loads `marked` (only then) and returns a renderer. */
export async function loadMarkdown(): Promise<MarkdownRenderer> {
  const { marked } = await import('marked');
  // gfm for tables and strikethrough; breaks because chat users expect a newline to be one.
  return (markdown) => marked(markdown, { async: false, gfm: true, breaks: true });
}

/** --json: the parsed value must be a JSON object (event content always is). */
export function jsonContent(value: unknown, source: string): Content {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new UsageError(`${source} must be a JSON object (event content), not ${kind}`);
  }
  return value as Content;
}

// RFC 5870: geo:LAT,LON[,ALT][;crs=wgs84][;u=UNCERTAINTY][;name=value]...
const GEO_URI = /^geo:(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)(?:,-?\d+(?:\.\d+)?)?((?:;[A-Za-z0-9-]+(?:=(?:[A-Za-z0-9\-_.!~*'()[\]:&+$]|%[0-9A-Fa-f]{2})+)?)*)$/i;

/** --location: checks the geo URI; the body is TEXT, else "Location geo:...". */
export function locationContent(geoUri: string, text: string | undefined): Content {
  const problem = geoUriProblem(geoUri);
  if (problem) throw new UsageError(`invalid --location "${printable(geoUri)}": ${problem}`);
  if (text !== undefined && isBlank(text)) throw new UsageError('empty message: give a description of the location, or no TEXT');
  return { msgtype: 'm.location', body: text ?? `Location ${geoUri}`, geo_uri: geoUri };
}

function geoUriProblem(value: string): string | undefined {
  const match = GEO_URI.exec(value);
  if (!match) return 'use geo:LATITUDE,LONGITUDE[;u=METRES], e.g. geo:51.5008,0.1247;u=35';
  const [lat, lon, params] = [Number(match[1]), Number(match[2]), match[3]!];
  if (Math.abs(lat) > 90) return `latitude ${match[1]} is not between -90 and 90`;
  if (Math.abs(lon) > 180) return `longitude ${match[2]} is not between -180 and 180`;
  for (const param of params.split(';').slice(1)) {
    const [name, val] = param.split('=') as [string, string | undefined];
    if (name.toLowerCase() === 'crs' && val?.toLowerCase() !== 'wgs84') return 'only crs=wgs84 is supported';
    if (name.toLowerCase() === 'u' && !/^\d+(?:\.\d+)?$/.test(val ?? '')) return 'u= takes the uncertainty in metres, a number';
  }
  return undefined;
}

/** The m.* msgtype for a file, from its MIME type. */
export function msgtypeForMime(mimetype: string): string {
  const top = mimetype.split('/')[0];
  return top === 'image' ? 'm.image' : top === 'audio' ? 'm.audio' : top === 'video' ? 'm.video' : 'm.file';
}

/** A msgtype given with --msgtype: a non-empty printable name without spaces. */
export function parseMsgtype(value: string): string {
  if (!/^[\x21-\x7E]{1,255}$/.test(value)) {
    throw new UsageError(`invalid --msgtype "${printable(value)}": use a name like m.text or com.example.custom`);
  }
  return value;
}

/**
 * The content alone already over the event size limit: refused here, before any request.
 * (An event a little under it can still be refused by the server, whose envelope adds
 * some hundred bytes; send maps that M_TOO_LARGE to the same exit code.)
 */
export function checkContentSize(content: Content, what = 'the message'): void {
  const bytes = Buffer.byteLength(JSON.stringify(content));
  if (bytes > MAX_EVENT_BYTES) {
    throw new UsageError(
      `${what} is too large: its content is ${bytes} bytes and a Matrix event may be at most ${MAX_EVENT_BYTES} (send it as a file with --file)`,
    );
  }
}
