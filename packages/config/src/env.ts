/** Typed readers of environment variables; each refusal names the variable, the value and what is allowed. */

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The trimmed value, or undefined when unset or blank. */
export function optional(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function str(env: Env, name: string, fallback: string): string {
  return optional(env, name) ?? fallback;
}

export function int(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}=${raw} is not allowed: expected an integer from ${min} to ${max}.`);
  }
  return n;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name}=${raw} is not allowed: expected true or false.`);
}

/** Sizes accept a plain byte count or a binary suffix: 512M, 20G, 1T. */
export function bytes(env: Env, name: string, fallback: number, min = 1): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?$/i.exec(raw);
  if (!m) throw new ConfigError(`${name}=${raw} is not allowed: expected bytes such as 1073741824 or 1G.`);
  const unit = (m[2] ?? '').toUpperCase().charAt(0);
  const mult = unit === 'K' ? 2 ** 10 : unit === 'M' ? 2 ** 20 : unit === 'G' ? 2 ** 30 : unit === 'T' ? 2 ** 40 : 1;
  const n = Math.floor(Number(m[1]) * mult);
  if (n < min) throw new ConfigError(`${name}=${raw} is not allowed: expected at least ${min} byte${min === 1 ? '' : 's'}.`);
  return n;
}

export function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = (optional(env, name) ?? fallback).toLowerCase();
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name}=${raw} is not allowed: expected ${allowed.join(', ')}.`);
  return raw as T;
}

/** A comma-separated list whose items must each be allowed. */
export function listOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const raw = optional(env, name);
  if (raw === undefined) return [...fallback];
  const items = raw.split(',').map((q) => q.trim()).filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new ConfigError(`${name} has "${item}": allowed are ${allowed.join(', ')}.`);
  }
  if (items.length === 0) throw new ConfigError(`${name} is empty: list at least one of ${allowed.join(', ')}.`);
  return items as T[];
}
