/**
 * A reader that stops early (`slimsplit demo | head -1`) closes the pipe; the next write then fails
 * with EPIPE, which Node raises as an unhandled 'error' event: a stack trace for a normal use. The
 * CLI treats a closed stdout or stderr as "nobody wants the rest" and exits 0 at once, as `yes` or
 * `seq` do when killed by SIGPIPE, without the 141 that would fail a `set -o pipefail` script.
 *
 *   exitQuietlyOnClosedPipe();   // once, before the first write
 */
export function exitQuietlyOnClosedPipe(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(0);
      // any other write error is real: report it where it can still be seen
      throw e;
    });
  }
}

/** Lets pending I/O events (a closed pipe among them) run between long synchronous steps. */
export function yieldToEvents(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
