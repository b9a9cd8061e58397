/** Error codes follow the errno names netmap returns for the same situations. */
export type NetmapErrorCode = 'EINVAL' | 'EBUSY' | 'ENOENT' | 'ENOMEM' | 'ENOTSUP' | 'ENOSPC' | 'EBADF';

/** The one error type the library throws for bad input or a refused request. */
export class NetmapError extends Error {
  readonly code: NetmapErrorCode;
  constructor(code: NetmapErrorCode, message: string) {
    super(message);
    this.name = 'NetmapError';
    this.code = code;
  }
}

export function invalid(message: string): NetmapError {
  return new NetmapError('EINVAL', message);
}
