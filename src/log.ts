import { type Logger, pino } from 'pino';

/** Levels accepted by --log-level; 'silent' is the default so the hot path never logs. */
export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
/** A log level (pino's), or 'silent'. */
export type LogLevel = (typeof LOG_LEVELS)[number];

// stderr in Node; pino's browser build has no destination (it logs to the console).
let logger: Logger =
  typeof pino.destination === 'function'
    ? pino({ level: 'silent', base: undefined }, pino.destination(2))
    : pino({ level: 'silent', base: undefined });

/** Sets the library's log level in this thread (default 'silent': the hot path never logs). */
export function setLogLevel(level: LogLevel): void {
  logger.level = level;
}
export function logLevel(): LogLevel {
  return logger.level as LogLevel;
}
export function log(): Logger {
  return logger;
}
/** Replaces the logger (tests capture records with it). */
export function setLogger(l: Logger): void {
  logger = l;
}
/** True for the 1st, 2nd, 4th, 8th ... occurrence: a log rate limit for repeated errors. */
export function shouldLog(count: number): boolean {
  return count > 0 && (count & (count - 1)) === 0;
}
