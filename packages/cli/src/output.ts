/** How the command talks to people: short user-error messages, exit statuses, number formatting. */
import { CommanderError } from 'commander';
import { isPssrError } from '@pssr/core';

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USER = 2;
/** 128 + SIGINT, as shells report a command stopped by Ctrl-C. */
export const EXIT_CANCELED = 130;

const MAX_LINES = 3;
const MAX_LINE = 300;

/** At most three lines, each of bounded length, prefixed with the command name; never a stack trace. */
export function formatUserError(message: string, prefix = 'pssr'): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(0, MAX_LINES)
    .map((l) => (l.length > MAX_LINE ? `${l.slice(0, MAX_LINE - 3)}...` : l));
  if (lines.length === 0) lines.push('failed');
  return lines.map((l, i) => (i === 0 ? `${prefix}: ${l}` : `  ${l}`)).join('\n') + '\n';
}

/** Prints an error the way its kind deserves and returns the exit status. */
export function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander has already printed its (short) message
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return EXIT_OK;
    return EXIT_USER;
  }
  if (isPssrError(err) && err.code === 'CANCELED') {
    process.stderr.write(formatUserError(`${err.message} Nothing was written.`));
    return EXIT_CANCELED;
  }
  if (isPssrError(err) && err.userError) {
    process.stderr.write(formatUserError(err.message));
    return EXIT_USER;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(formatUserError(`internal error: ${message.split('\n')[0]}${debug ? '' : '\n(set PSSR_DEBUG=1 to see the stack trace)'}`));
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT_INTERNAL;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - 60 * m)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
