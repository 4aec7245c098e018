import type { Setting, SettingsTable } from './settings.js';
import { CLIENT_SETTINGS, SERVER_SETTINGS } from './settings.js';

export const CONFIG_BEGIN =
  '<!-- config:begin (generated from libs/config/src/settings.ts: npm run docs:config) -->';
export const CONFIG_END = '<!-- config:end -->';

/** A Markdown table cell: a `|` inside would end the cell. */
const cell = (s: string): string => s.replace(/\|/g, '\\|');

function row(s: Setting<unknown>): string[] {
  const flag = s.flag === undefined ? '—' : `\`${s.flag}${s.arg === undefined ? '' : ` ${s.arg}`}\``;
  const kind = s.parser.bounds === '' ? s.parser.type : `${s.parser.type} (${s.parser.bounds})`;
  return [
    flag,
    s.env === undefined ? '—' : `\`${s.env}\``,
    kind,
    s.defaultDoc,
    s.doc,
    s.readBy.join(', '),
  ].map(cell);
}

/** Columns padded as Prettier pads them, so the generated block is already formatted. */
function table(header: readonly string[], rows: readonly string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c + ' '.repeat((widths[i] ?? 0) - [...c].length)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const HEADER = ['flag', 'env', 'type', 'default', 'what it is', 'read by'];

/** README's configuration block, markers included, from the tables. */
export function configBlock(
  server: SettingsTable = SERVER_SETTINGS,
  client: SettingsTable = CLIENT_SETTINGS,
): string {
  return [
    CONFIG_BEGIN,
    '',
    '`rein up` flags and the server’s environment variables (flags win over variables, variables over',
    'defaults; every value is checked at start, and every problem is reported at once):',
    '',
    ...table(HEADER, Object.values(server).map(row)),
    '',
    'The `rein` client (every command but `up`):',
    '',
    ...table(HEADER, Object.values(client).map(row)),
    '',
    CONFIG_END,
  ].join('\n');
}

/** `readme` with its configuration block replaced by `block`; throws when the markers are missing. */
export function withConfigBlock(readme: string, block: string = configBlock()): string {
  const begin = readme.indexOf('<!-- config:begin');
  const end = readme.indexOf(CONFIG_END);
  if (begin < 0 || end < begin) {
    throw new Error(`README has no configuration block: put ${CONFIG_BEGIN} and ${CONFIG_END} around it`);
  }
  return readme.slice(0, begin) + block + readme.slice(end + CONFIG_END.length);
}

/** The configuration block as README has it, markers included; undefined without markers. */
export function readmeConfigBlock(readme: string): string | undefined {
  const begin = readme.indexOf('<!-- config:begin');
  const end = readme.indexOf(CONFIG_END);
  return begin < 0 || end < begin ? undefined : readme.slice(begin, end + CONFIG_END.length);
}
